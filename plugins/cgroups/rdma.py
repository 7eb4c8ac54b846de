"""linux.resources.rdma (config-linux.md#rdma): ``rdma.max`` on v1 and v2.

One line per device: ``"mlx5_1 hca_handle=3 hca_object=max"`` (an absent limit is ``max``,
as runc writes it).
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = None
WHERE = "linux.resources.rdma"


def validate(resources: Any) -> None:
    for name in resources.rdma or {}:
        if not name or any(c.isspace() for c in name):
            raise SpecError(f"{WHERE}", f"{name!r} is not an RDMA device name")


def _settings(resources: Any) -> list[Setting]:
    out: list[Setting] = []
    for name, limits in (resources.rdma or {}).items():
        if limits.hca_handles is None and limits.hca_objects is None:
            continue
        handles = "max" if limits.hca_handles is None else str(limits.hca_handles)
        objects = "max" if limits.hca_objects is None else str(limits.hca_objects)
        out.append(Setting("rdma", "rdma.max", f"{name} hca_handle={handles} "
                           f"hca_object={objects}", f"{WHERE}.{name}"))
    return out


v1 = _settings
v2 = _settings
