"""Op handlers of the ``minimal-dev`` plugin, run in the container process before pivot_root.

These run in limpet's lean container init: this module imports only the standard library
and the lean ``limpet.core`` modules (paths, errors, syscalls). Each handler gets the init's
context (rootfs, syscall seam, whether a new user namespace forbids mknod) and the op's
arguments, which always include ``where`` (the config path for error messages).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any, Protocol

from limpet.core import paths
from limpet.core.errors import ExecutionError
from limpet.core.syscalls import const

if TYPE_CHECKING:
    from limpet.core.syscalls import Syscalls

#: linux.devices[].type -> file type bits ("u" is an unbuffered char device).
TYPES: dict[str, int] = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                         "p": stat.S_IFIFO}


class InitContext(Protocol):
    """The part of limpet's init context these handlers use."""

    rootfs: str
    new_user_namespace: bool
    sys: Syscalls


def _describe(mode: int, rdev: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "c" if stat.S_ISCHR(mode) else "b"
        return f"a device {kind} {os.major(rdev)}:{os.minor(rdev)}"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "a regular file" if stat.S_ISREG(mode) else "not a device"


def _open_dir(ctx: InitContext, path: str, where: str | None) -> int:
    """An O_PATH fd of ``path`` in the rootfs (created as needed, never through a symlink
    that leaves the rootfs)."""
    root = os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return paths.make_in_root(ctx, root, path or "/", where=where)
    finally:
        os.close(root)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def mknod(ctx: InitContext, args: dict[str, Any]) -> None:
    """Create one device node: a chosen default device or a linux.devices[i] entry.

    args: where, path, type (c/b/u/p), major, minor, fileMode, uid, gid. An existing node of
    the same type and number is kept (its mode and owner are set); anything else at the path
    is an error. In a new user namespace mknod(2) is refused, so the host's node is
    bind-mounted instead (as runc and crun do).
    """
    where: str | None = args.get("where")
    path: str = args["path"]
    kind = TYPES[args["type"]]
    rdev = os.makedev(args.get("major") or 0, args.get("minor") or 0)
    perm = args.get("fileMode")
    perm = 0o666 if perm is None else perm
    parent_path, name = os.path.split(path.rstrip("/"))
    parent = _open_dir(ctx, parent_path, where)
    try:
        st = _lstat(name, parent)
        bind = ctx.new_user_namespace and kind != stat.S_IFIFO
        if st is not None:
            same = stat.S_IFMT(st.st_mode) == kind and (kind == stat.S_IFIFO
                                                        or st.st_rdev == rdev)
            if not same and not (bind and stat.S_ISREG(st.st_mode)):
                raise ExecutionError(where, f"{path} exists and is "
                                     f"{_describe(st.st_mode, st.st_rdev)}, not "
                                     f"{_describe(kind, rdev)}")
        if bind:
            if st is None or stat.S_ISREG(st.st_mode):   # the same node may stay as it is
                _bind_host_node(ctx, parent, name, path, where)
            return
        if st is None:
            os.mknod(name, kind | perm, rdev, dir_fd=parent)
        os.chmod(name, perm, dir_fd=parent, follow_symlinks=True)
        os.chown(name, args.get("uid") or 0, args.get("gid") or 0, dir_fd=parent,
                 follow_symlinks=False)
    finally:
        os.close(parent)


def _bind_host_node(ctx: InitContext, parent: int, name: str, path: str,
                    where: str | None) -> None:
    """Bind the host's ``path`` over an empty file ``name`` in ``parent``."""
    if not os.path.exists(path):
        raise ExecutionError(where, f"{path}: cannot create a device node in a user "
                             "namespace and the host has no such node to bind")
    if _lstat(name, parent) is None:
        fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644,
                     dir_fd=parent)
        os.close(fd)
    target = paths.open_in_root(ctx, parent, name, where=where)
    try:
        ctx.sys.mount(path, paths.fd_path(target), None, const("MS_BIND"), None)
    finally:
        os.close(target)


def links(ctx: InitContext, args: dict[str, Any]) -> None:
    """Make the /dev links in ``args["links"]`` (name -> target); existing entries are kept.

    Unlike limpet's built-in devices plugin, no /dev/ptmx link is made.
    """
    dev = _open_dir(ctx, "/dev", args.get("where"))
    try:
        for name, target in args["links"].items():
            if _lstat(name, dev) is None:
                os.symlink(target, name, dir_fd=dev)
    finally:
        os.close(dev)


def audit(ctx: InitContext, args: dict[str, Any]) -> None:
    """Fail if /dev holds a device node that was not planned (``args["allowed"]`` lists
    the names under /dev that may be nodes: the chosen defaults, linux.devices, mounts).

    Only /dev itself is read, not the file systems mounted below it (pts, shm, mqueue).
    """
    where: str | None = args.get("where")
    allowed = set(args["allowed"])
    root = os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev = paths.open_in_root(ctx, root, "/dev", where=where,
                                 flags=os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(root)
    try:
        for name in sorted(os.listdir(dev)):
            if name in allowed:
                continue
            st = _lstat(name, dev)
            if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                raise ExecutionError(
                    where, f"/dev/{name} is {_describe(st.st_mode, st.st_rdev)} that is "
                    "not configured; the minimal-dev plugin allows only the listed nodes",
                    hint="mount a tmpfs on /dev in config.json (as `limpet spec` does) or "
                         f"add /dev/{name} to linux.devices")
    finally:
        os.close(dev)
