"""What ``linux.cgroupsPath`` means (config-linux.md#cgroups-path), as runc reads it with its
cgroupfs driver (lean: standard library and limpet.core).

- absolute (``/libpod_parent/libpod-<id>``, ``/<namespace>/<id>``): relative to the root of
  each hierarchy;
- relative (``my/group``): relative to the runtime's own cgroup in each hierarchy
  (``/proc/self/cgroup``);
- absent or empty: ``/limpet-<container id>``, flat so that deleting the last container
  leaves no shared parent behind; or ``<parent>/<container id>`` when the plugin option
  ``parent`` is set;
- systemd's ``slice:prefix:name`` form needs the systemd driver, which limpet does not have
  (no systemd here): it is rejected with a clear error.
"""

from __future__ import annotations

import posixpath

from limpet.core.errors import SpecError
from limpet.core.record import FrozenRecord

WHERE = "linux.cgroupsPath"
DEFAULT_PARENT: str | None = None
DEFAULT_PREFIX = "/limpet-"


class CgroupPath(FrozenRecord):
    """A validated cgroupsPath: ``path`` is clean; absolute unless ``relative``."""

    path: str
    relative: bool = False
    default: bool = False

    def __str__(self) -> str:
        return self.path


def parse(value: str | None, container_id: str,
          parent: str | None = DEFAULT_PARENT) -> CgroupPath:
    """Validate ``linux.cgroupsPath``; raise SpecError naming it."""
    if not value:
        if parent is None:
            return CgroupPath(_clean(DEFAULT_PREFIX + container_id, WHERE), default=True)
        if not parent.startswith("/"):
            raise SpecError("cgroups plugin option parent", f"{parent!r} must be absolute")
        return CgroupPath(_clean(posixpath.join(parent, container_id), WHERE), default=True)
    if _systemd(value):
        raise SpecError(WHERE, f"{value!r} is a systemd cgroup path (slice:prefix:name); the "
                        "systemd cgroup driver is not available (no systemd): use a cgroupfs "
                        "path such as /limpet-<id>")
    if "\0" in value or "\n" in value:
        raise SpecError(WHERE, f"{value!r} contains a NUL or newline character")
    relative = not value.startswith("/")
    path = _clean(value, WHERE)
    if not relative and path == "/":
        raise SpecError(WHERE, "refusing to put the container in the root cgroup")
    if relative and path in ("", "."):
        raise SpecError(WHERE, f"{value!r} names the runtime's own cgroup")
    return CgroupPath(path, relative=relative)


def _systemd(value: str) -> bool:
    """``slice:prefix:name``: two colons, no slash before the first (what runc's
    ``^[^/:]*:[^:]*:[^:]*$`` matches), without importing re."""
    parts = value.split(":")
    return len(parts) == 3 and "/" not in parts[0]


def _clean(value: str, where: str) -> str:
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SpecError(where, f"{value!r} must not contain '..'")
    text = "/".join(parts)
    return "/" + text if value.startswith("/") else text


def under(own: str, cgroup: CgroupPath) -> str:
    """The absolute cgroup (inside a hierarchy) for ``cgroup``, given the runtime's own."""
    if not cgroup.relative:
        return cgroup.path
    return posixpath.join(own or "/", cgroup.path)


def host_dir(mountpoint: str, mount_root: str, cgroup: str) -> str:
    """The directory of absolute ``cgroup`` in a hierarchy mounted at ``mountpoint``.

    ``mount_root`` is the mount's root inside the hierarchy (not "/" inside a cgroup
    namespace or for a bind mount of a sub-cgroup); a cgroup below it is found under the
    mount point, anything else is taken from the mount point (what runc does).
    """
    root = mount_root.rstrip("/")
    if root and (cgroup == root or cgroup.startswith(root + "/")):
        cgroup = cgroup[len(root):]
    return posixpath.join(mountpoint, cgroup.lstrip("/")).rstrip("/")
