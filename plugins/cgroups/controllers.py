"""The controller modules, in the order both backends write their settings, imported only
when ``linux.resources`` has something for them (lean).

devices first (deny-all before anything runs), then the limits; ``unified`` last so that
raw v2 key/values override converted ones. Each module reads its own section of
``linux.resources`` only, so a module whose section is absent has nothing to add (a unit
test holds every module to that) and is not imported.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

#: (attribute of linux.resources, its config.json key, controller module), in writing order.
ORDER: tuple[tuple[str, str, str], ...] = (
    ("devices", "devices", "devices"),
    ("memory", "memory", "memory"),
    ("cpu", "cpu", "cpu"),
    ("cpu", "cpu", "cpuset"),
    ("pids", "pids", "pids"),
    ("block_io", "blockIO", "blkio"),
    ("hugepage_limits", "hugepageLimits", "hugetlb"),
    ("network", "network", "network"),
    ("rdma", "rdma", "rdma"),
    ("unified", "unified", "unified"),
)


def controller(name: str) -> ModuleType:
    """The controller module ``name`` (``"memory"``), imported now."""
    full = f"{__package__}.{name}"
    __import__(full)
    return sys.modules[full]


def every() -> list[ModuleType]:
    """All controller modules, in writing order."""
    return [controller(name) for _, _, name in ORDER]


def needed(resources: Any) -> list[ModuleType]:
    """The controller modules with something to read in ``resources`` (devices always: its
    default rules apply without ``linux.resources.devices``), in writing order."""
    return [controller(name) for attr, _, name in ORDER
            if name == "devices" or getattr(resources, attr) is not None]


def supported(key: str) -> tuple[str, ...] | None:
    """The fields of ``linux.resources.<key>`` the plugin applies: None for all of them,
    () for none (a section no controller module reads)."""
    names = [name for _, section, name in ORDER if section == key]
    if not names:
        return ()
    fields: list[str] = []
    for name in names:
        listed = getattr(controller(name), "SUPPORTED", None)
        if listed is None:
            return None
        fields += listed
    return tuple(fields)
