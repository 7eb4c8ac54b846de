"""linux.resources.unified (config-linux.md#unified): cgroup v2 files by name.

Each key is a file of the container's cgroup (``memory.high``, ``io.latency``), written
after every other setting, so that it overrides a converted value (runc does the same).
The key's controller (the part before the first dot) must be enabled; keys that would move
or kill processes (``cgroup.procs``, ``cgroup.threads``, ``cgroup.kill``) or change the
tree (``cgroup.subtree_control``) are refused. On cgroup v1 the section is an error.
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = None
WHERE = "linux.resources.unified"
_KEY = r"^[a-z0-9_]+\.[a-zA-Z0-9_.]+$"
REFUSED = frozenset({"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.subtree_control",
                     "cgroup.type"})


def where(key: str) -> str:
    return f"{WHERE}[{key!r}]"


def validate(resources: Any) -> None:
    if not resources.unified:
        return
    import re  # only when the section is set: re costs ~7 ms on create's path

    for key in resources.unified:
        if not re.match(_KEY, key):
            raise SpecError(where(key), "not a cgroup v2 file name (controller.file)")
        if key in REFUSED:
            raise SpecError(where(key), "limpet manages this file itself")


def v1(resources: Any) -> list[Setting]:
    if resources.unified:
        raise SpecError(WHERE, "cgroup v2 files, but this container uses the cgroup v1 "
                        "backend", hint="remove linux.resources.unified or use a cgroup v2 "
                        "host (backends: {cgroups: v2})")
    return []


def v2(resources: Any) -> list[Setting]:
    return [Setting(key.split(".", 1)[0], key, value, where(key))
            for key, value in (resources.unified or {}).items()]
