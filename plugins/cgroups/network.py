"""linux.resources.network (config-linux.md#network): the net_cls and net_prio controllers.

v1 only: ``net_cls.classid`` and one ``net_prio.ifpriomap`` line (``"eth0 5"``) per
priority. cgroup v2 has neither controller (network classification there is a BPF matter):
asking for them on v2 is an error.
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = None
WHERE = "linux.resources.network"


def validate(resources: Any) -> None:
    net = resources.network
    if net is None:
        return
    for i, prio in enumerate(net.priorities or []):
        if not prio.name or any(c.isspace() for c in prio.name):
            raise SpecError(f"{WHERE}.priorities[{i}].name", f"{prio.name!r} is not an "
                            "interface name")


def v1(resources: Any) -> list[Setting]:
    net = resources.network
    if net is None:
        return []
    out: list[Setting] = []
    if net.class_id is not None:
        out.append(Setting("net_cls", "net_cls.classid", str(net.class_id), f"{WHERE}.classID"))
    for i, prio in enumerate(net.priorities or []):
        out.append(Setting("net_prio", "net_prio.ifpriomap", f"{prio.name} {prio.priority}",
                           f"{WHERE}.priorities[{i}]"))
    return out


def v2(resources: Any) -> list[Setting]:
    net = resources.network
    if net is None:
        return []
    if net.class_id is not None:
        raise SpecError(f"{WHERE}.classID", "cgroup v2 has no net_cls controller")
    if net.priorities:
        raise SpecError(f"{WHERE}.priorities", "cgroup v2 has no net_prio controller")
    return []
