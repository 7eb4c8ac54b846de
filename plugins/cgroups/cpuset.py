"""linux.resources.cpu cpus and mems (config-linux.md#cpu): the cpuset controller.

``cpuset.cpus`` and ``cpuset.mems`` on v1 and v2; an empty string means "not set". On v1 a
new cpuset cgroup starts empty and takes no task until both files are filled: the v1
backend copies them from the parent when it creates the directory (:func:`.v1.prepare`).
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = ("cpus", "mems")
WHERE = "linux.resources.cpu"
#: The kernel's list format (Documentation/admin-guide/cgroup-v2.rst, "cpuset.cpus").
_LIST = r"^\d+(-\d+)?(,\d+(-\d+)?)*$"


def validate(resources: Any) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    for name in SUPPORTED:
        value = getattr(cpu, name)
        if not value:
            continue
        import re  # only when a cpuset is asked for: re costs ~7 ms on create's path

        if not re.match(_LIST, value.replace(" ", "")):
            raise SpecError(f"{WHERE}.{name}", f"{value!r} is not a list such as \"0-3,5\"")


def _settings(resources: Any) -> list[Setting]:
    cpu = resources.cpu
    if cpu is None:
        return []
    return [Setting("cpuset", f"cpuset.{name}", getattr(cpu, name), f"{WHERE}.{name}")
            for name in SUPPORTED if getattr(cpu, name)]


v1 = _settings
v2 = _settings
