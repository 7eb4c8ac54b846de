"""Id-mapped bind mounts, runtime side (config.md#mounts ``uidMappings``/``gidMappings``
and the ``idmap``/``ridmap`` options).

Mapping a mount needs CAP_SYS_ADMIN over the source's filesystem, which the container's
init lacks once it is in its own user namespace. So, as runc does, the container process
asks the runtime (``InitContext.call_parent``) and the runtime, in the host's namespaces,
clones the source as a detached tree (open_tree(2) ``OPEN_TREE_CLONE``), maps it
(mount_setattr(2) ``MOUNT_ATTR_IDMAP``) and hands the tree back; the container process
attaches it at the destination with move_mount(2) (:func:`.ops.mount`).

The mapping is a user namespace: one made for the mount's own ``uidMappings`` and
``gidMappings``, or, without them, the container's.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import errno
import os

from limpet.core.errors import ExecutionError
from limpet.core.idmaps import write_id_maps
from limpet.core.syscalls import Syscalls, const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SIGKILL, _SIGSTOP = 9, 19


def idmapped_tree(pctx: Any, args: dict[str, Any]) -> None:
    """Clone ``args["source"]`` (recursively for rbind), map it, and append the tree's fd
    to ``args["reply_fds"]`` for the container process."""
    where, source = args["where"], args["source"]
    sys = Syscalls()
    userns = _user_namespace(sys, pctx, args)
    try:
        clone = const("OPEN_TREE_CLONE") | const("OPEN_TREE_CLOEXEC")
        if args.get("rbind"):
            clone |= const("AT_RECURSIVE")
        try:
            tree = sys.open_tree(const("AT_FDCWD"), source, clone)
        except OSError as exc:
            raise ExecutionError(f"{where}.source", f"{source}: cannot be cloned for an "
                                 f"id-mapped mount: {exc.strerror}", errno=exc.errno) from None
        try:
            flags = const("AT_EMPTY_PATH") | (const("AT_RECURSIVE") if args["recursive"] else 0)
            sys.mount_setattr(tree, "", flags, const("MOUNT_ATTR_IDMAP"), 0, 0, userns)
        except OSError as exc:
            os.close(tree)
            raise ExecutionError(where, f"{source}: the kernel refused to id-map the mount: "
                                 f"{exc.strerror}", errno=exc.errno,
                                 hint=_hint(exc.errno)) from None
        args["reply_fds"].append(tree)
    finally:
        os.close(userns)


def _hint(code: int | None) -> str | None:
    if code == errno.EINVAL:
        return ("the source's filesystem may not support id-mapped mounts (ext4, xfs, btrfs, "
                "tmpfs and overlayfs do), or it was itself mounted in a user namespace")
    if code == errno.EPERM:
        return "id-mapped mounts need CAP_SYS_ADMIN in the host's user namespace"
    return None


def _user_namespace(sys: Syscalls, pctx: Any, args: dict[str, Any]) -> int:
    """An fd of the user namespace whose mapping the mount gets."""
    if not args["uid"]:
        # idmap/ridmap without mappings: the container's own user namespace
        return os.open(f"/proc/{pctx.target_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    return mapped_user_namespace(sys, args["uid"], args["gid"], args["where"])


def mapped_user_namespace(sys: Syscalls, uid: list[dict[str, int]],
                          gid: list[dict[str, int]], where: str) -> int:
    """A new user namespace with these maps, held by an fd: a child unshares it and stops,
    the maps are written, its ``ns/user`` opened, and the child killed."""
    pid = os.fork()
    if pid == 0:   # the child runs no Python beyond these two calls
        try:
            sys.unshare(const("CLONE_NEWUSER"))
            os.kill(os.getpid(), _SIGSTOP)
        finally:
            os._exit(0)
    reaped = False
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            reaped = True
            raise ExecutionError(where, "could not create a user namespace for the mapping")
        write_id_maps(pid, uid, gid, where)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        if not reaped:
            os.kill(pid, _SIGKILL)
            os.waitpid(pid, 0)
