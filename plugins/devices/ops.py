"""Device node operations, run in the container process before pivot_root.

config-linux.md#devices and #default-devices. In a new user namespace mknod(2) is not
allowed: the host's node is bind-mounted instead (runc and crun do the same).
Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import os
import stat

from limpet.core import paths
from limpet.core.errors import ExecutionError
from limpet.core.syscalls import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
_NAMES = {stat.S_IFCHR: "c", stat.S_IFBLK: "b", stat.S_IFIFO: "p"}


def _root_fd(ctx: Any) -> int:
    return os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _describe(mode: int, rdev: int) -> str:
    kind = _NAMES.get(stat.S_IFMT(mode), "a non-device file")
    return kind if kind == "p" or len(kind) > 1 else f"{kind} {os.major(rdev)}:{os.minor(rdev)}"


def create_device(ctx: Any, args: dict[str, Any]) -> None:
    """Create one node (linux.devices[i] or a default device) inside the rootfs."""
    where = args["where"]
    path = args["path"]
    kind = TYPES[args["type"]]
    rdev = os.makedev(args.get("major") or 0, args.get("minor") or 0)
    perm = args.get("fileMode")
    perm = 0o666 if perm is None else perm
    parent_path, name = os.path.split(path.rstrip("/"))
    root = _root_fd(ctx)
    try:
        parent = paths.make_in_root(ctx, root, parent_path or "/", where=where)
    finally:
        os.close(root)
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            same = stat.S_IFMT(st.st_mode) == kind and (kind == stat.S_IFIFO
                                                        or st.st_rdev == rdev)
            if not same and not (ctx.new_user_namespace and stat.S_ISREG(st.st_mode)):
                found = _describe(st.st_mode, st.st_rdev)
                raise ExecutionError(where, f"{path} exists and is {found}, "
                                     f"not {_describe(kind, rdev)}")
        elif ctx.new_user_namespace and kind != stat.S_IFIFO:
            _bind_host_node(ctx, parent, name, path, where)
            return
        else:
            os.mknod(name, kind | perm, rdev, dir_fd=parent)
        if not (ctx.new_user_namespace and kind != stat.S_IFIFO):
            os.chmod(name, perm, dir_fd=parent, follow_symlinks=True)
            os.chown(name, args.get("uid") or 0, args.get("gid") or 0, dir_fd=parent,
                     follow_symlinks=False)
    finally:
        os.close(parent)


def _bind_host_node(ctx: Any, parent: int, name: str, path: str, where: str) -> None:
    if not os.path.exists(path):
        raise ExecutionError(where, f"{path}: cannot create a device node in a user namespace "
                             "and the host has no such node to bind")
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644,
                 dir_fd=parent)
    os.close(fd)
    target = paths.open_in_root(ctx, parent, name, where=where)
    try:
        ctx.sys.mount(path, paths.fd_path(target), None, const("MS_BIND"), None)
    finally:
        os.close(target)


def dev_links(ctx: Any, args: dict[str, Any]) -> None:
    """/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/ptmx links
    (config-linux.md#default-devices)."""
    root = _root_fd(ctx)
    try:
        dev = paths.make_in_root(ctx, root, "/dev", where="linux.devices")
    finally:
        os.close(root)
    try:
        for name, target in args["links"].items():
            try:
                st = os.stat(name, dir_fd=dev, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None:
                if name != "ptmx" or stat.S_ISLNK(st.st_mode):
                    continue
                os.unlink(name, dir_fd=dev)   # a ptmx node: replace with the pts link
            os.symlink(target, name, dir_fd=dev)
    finally:
        os.close(dev)
