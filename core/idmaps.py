"""User namespace id maps (config-linux.md#user-namespace-mappings; the same format serves
config.md#mounts ``uidMappings``/``gidMappings``): writing a new namespace's from the runtime
side, and telling whether this process is in the host's.

Lean: standard library and limpet.core.errors only.
"""

from __future__ import annotations

import os

from .errors import ExecutionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def as_maps(mappings: Any) -> list[dict[str, int]]:
    """Spec ``LinuxIDMapping`` objects as the dicts a plan carries and
    :func:`write_id_maps` takes."""
    return [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size}
            for m in mappings or []]


def write_id_maps(pid: int, uid: list[dict[str, int]], gid: list[dict[str, int]],
                  where: str) -> None:
    """Write ``/proc/PID/uid_map`` and ``gid_map``; a refusal names
    ``{where}.uidMappings`` or ``{where}.gidMappings``. A runtime that is not root must
    deny setgroups(2) in the namespace first, or the kernel refuses its gid_map
    (user_namespaces(7))."""
    if os.geteuid() != 0:
        try:
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        except OSError as exc:
            raise ExecutionError(f"{where}.gidMappings", f"writing setgroups: {exc.strerror}",
                                 errno=exc.errno) from None
    for kind, maps in (("uid", uid), ("gid", gid)):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{kind}_map", "w") as f:
                f.write(lines)
        except OSError as exc:
            raise ExecutionError(f"{where}.{kind}Mappings", f"writing {kind}_map: "
                                 f"{exc.strerror}", errno=exc.errno) from None


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the host's (the initial
    one maps every id onto itself: "0 0 4294967295")."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False
