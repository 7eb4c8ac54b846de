"""Records shared by the cgroups backends and controller modules (lean: standard library).

A backend (:mod:`.v1`, :mod:`.v2`) knows the host's layout; a controller module
(:mod:`.memory`, :mod:`.cpu`, ...) knows how one part of ``linux.resources``
(config-linux.md#control-groups) becomes :class:`Setting` records: "write this value to this
file of that controller". The plugin turns each setting into a ``cgroup-write`` plan op.
"""

from __future__ import annotations

from limpet.core.record import FrozenRecord

from .controllers import ORDER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object   # Driver is a structural type for mypy only; typing costs ~12 ms

#: The attributes of ``linux.resources`` (core.spec.LinuxResources) the controllers read.
SECTIONS = frozenset(attr for attr, _, _ in ORDER)


class _NoResources:
    """Every section of ``linux.resources`` absent (None)."""

    def __getattr__(self, name: str) -> None:
        if name in SECTIONS:
            return None
        raise AttributeError(name)


#: Stands for an absent ``linux.resources`` (the device defaults still apply).
NO_RESOURCES: Any = _NoResources()


class CgroupDir(FrozenRecord):
    """The container's cgroup in one hierarchy (v1) or the only one (v2, ``hierarchy=""``).

    ``path`` is the directory on the host; ``mount`` the hierarchy's mount point (the
    directory where walking up from ``path`` stops); ``controllers`` those it carries.
    """

    hierarchy: str
    path: str
    mount: str
    controllers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"hierarchy": self.hierarchy, "path": self.path, "mount": self.mount,
                "controllers": list(self.controllers)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CgroupDir:
        return cls(data["hierarchy"], data["path"], data["mount"],
                   tuple(data.get("controllers") or ()))


class Setting(FrozenRecord):
    """One value written to one cgroup file, in order.

    ``where`` is the config path it comes from (errors name it); ``hint`` is added to the
    error if the kernel refuses the write; ``probe`` asks validation to check that the file
    exists at the hierarchy's root (for optional kernel features such as memsw).
    ``alternatives`` are (file, value) pairs written instead when ``file`` does not exist in
    the container's cgroup (``blkio.bfq.weight``, else ``blkio.weight``); ``verify`` reads
    the file back and fails if the kernel accepted the value but ignored it; ``usage`` names
    a usage file that must not exceed the value (memory.checkBeforeUpdate).
    """

    controller: str
    file: str
    value: str
    where: str
    hint: str | None = None
    probe: bool = False
    alternatives: tuple[tuple[str, str], ...] = ()
    verify: bool = False
    usage: str | None = None


class Driver(Protocol):
    """What the plugin needs from a backend (the ``factory`` of a cgroups Backend)."""

    name: str

    def locate(self, cgroup: Any) -> list[CgroupDir]:
        """The container's directories for a parsed cgroupsPath (:class:`.paths.CgroupPath`)."""

    def settings(self, resources: Any, update: bool = False) -> list[Setting]:
        """Convert ``linux.resources`` into ordered writes; SpecError if not possible.
        ``update``: only the sections present (no device defaults for an absent list)."""

    def check(self, settings: list[Setting]) -> None:
        """SpecError naming the setting's config path if the host cannot apply it."""

    def file_for(self, dirs: list[CgroupDir], setting: Setting) -> str:
        """The host file a setting is written to."""


def unlimited(value: int, word: str = "max") -> str:
    """-1 means "no limit" in the spec; cgroup v2 files spell it ``max``."""
    return word if value == -1 else str(value)


def is_set(value: int | None) -> bool:
    """runc treats 0 as "not set" for most resource numbers (runc's libcontainer/configs)."""
    return value is not None and value != 0
