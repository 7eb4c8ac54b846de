"""linux.resources.pids (config-linux.md#pids): ``pids.max`` on v1 and v2.

A limit of 0 or below means "no limit" (``max``), as runc reads it.
"""

from __future__ import annotations

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = ("limit",)
WHERE = "linux.resources.pids.limit"


def validate(resources: Any) -> None:
    """Any int64 is valid."""


def _settings(resources: Any) -> list[Setting]:
    pids = resources.pids
    if pids is None:
        return []
    value = str(pids.limit) if pids.limit > 0 else "max"
    return [Setting("pids", "pids.max", value, WHERE)]


v1 = _settings
v2 = _settings
