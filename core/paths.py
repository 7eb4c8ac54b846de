"""Resolve container paths inside the root filesystem without following symlinks out of it.

Every path under the rootfs is opened with openat2(2): ``RESOLVE_BENEATH`` (a symlink that
leads out of the rootfs is an error) or ``RESOLVE_IN_ROOT`` (symlinks are resolved as if the
rootfs were "/", like runc's securejoin), always with ``RESOLVE_NO_MAGICLINKS``. Missing
components are created one at a time, each relative to its parent's fd.

Lean: standard library and limpet.core only (runs in the init).
"""

from __future__ import annotations

import errno
import os

from .errors import ExecutionError
from .syscalls import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BENEATH = "beneath"
IN_ROOT = "in-root"


def _resolve_flags(mode: str) -> int:
    scope = const("RESOLVE_BENEATH") if mode == BENEATH else const("RESOLVE_IN_ROOT")
    return scope | const("RESOLVE_NO_MAGICLINKS")


def _escape_error(where: str | None, path: str) -> ExecutionError:
    return ExecutionError(where, f"{path!r} resolves outside the container's root filesystem "
                          "through a symlink; use the path the symlink points to",
                          errno=errno.EXDEV,
                          hint="set mounts.symlinks: in-root in config.yaml to resolve such "
                               "symlinks inside the rootfs as runc does")


def open_in_root(ctx: Any, root_fd: int, path: str, *, where: str | None,
                 mode: str = BENEATH, flags: int = os.O_PATH) -> int:
    """Open ``path`` (relative to the rootfs) and return an fd; errors name ``where``."""
    rel = path.strip("/") or "."
    try:
        return ctx.sys.openat2(root_fd, rel, flags | os.O_CLOEXEC, 0, _resolve_flags(mode))
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise _escape_error(where, path) from None
        raise


def make_in_root(ctx: Any, root_fd: int, path: str, *, where: str | None, mode: str = BENEATH,
                 is_dir: bool = True, dir_mode: int = 0o755) -> int:
    """Open ``path`` under the rootfs, creating missing directories (and the last component
    as an empty file when ``is_dir`` is False). Returns an O_PATH fd.

    Each missing component is created in its parent, which is itself opened from the root
    with the same resolution rules, so a symlink met on the way is never followed out.
    """
    try:
        return open_in_root(ctx, root_fd, path, where=where, mode=mode)
    except FileNotFoundError:
        pass
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ExecutionError(where, f"{path!r} must not contain '..'")
    for i, part in enumerate(parts):
        prefix = "/".join(parts[: i + 1])
        try:
            os.close(open_in_root(ctx, root_fd, prefix, where=where, mode=mode))
            continue
        except FileNotFoundError:
            pass
        parent = open_in_root(ctx, root_fd, "/".join(parts[:i]), where=where, mode=mode)
        try:
            if i == len(parts) - 1 and not is_dir:
                fd = os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
                             | os.O_NOFOLLOW, 0o644, dir_fd=parent)
                os.close(fd)
            else:
                os.mkdir(part, dir_mode, dir_fd=parent)
        except FileExistsError:
            # A dangling symlink: its target would be created outside our control.
            raise ExecutionError(where, f"{path!r}: {prefix!r} is a symlink to a missing "
                                 "target") from None
        finally:
            os.close(parent)
    return open_in_root(ctx, root_fd, path, where=where, mode=mode)


def fd_path(fd: int) -> str:
    """The procfs path of an fd, usable as a mount target (the host's /proc, pre-pivot)."""
    return f"/proc/self/fd/{fd}"
