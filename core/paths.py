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
from typing import Any

from .errors import ExecutionError
from .syscalls import const

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
    as an empty file when ``is_dir`` is False). Returns an O_PATH fd."""
    try:
        return open_in_root(ctx, root_fd, path, where=where, mode=mode)
    except FileNotFoundError:
        pass
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    parent = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "..":
                raise ExecutionError(where, f"{path!r} must not contain '..'")
            try:
                child = open_in_root(ctx, parent, part, where=where, mode=BENEATH)
            except FileNotFoundError:
                try:
                    if last and not is_dir:
                        fd = os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
                                     | os.O_NOFOLLOW, 0o644, dir_fd=parent)
                        os.close(fd)
                    else:
                        os.mkdir(part, dir_mode, dir_fd=parent)
                except FileExistsError:
                    # A dangling symlink: its target would be created outside our control.
                    raise ExecutionError(where, f"{path!r}: component {part!r} is a symlink "
                                         "to a missing target") from None
                child = open_in_root(ctx, parent, part, where=where, mode=BENEATH)
            os.close(parent)
            parent = child
        return os.dup(parent)
    finally:
        os.close(parent)


def fd_path(fd: int) -> str:
    """The procfs path of an fd, usable as a mount target (the host's /proc, pre-pivot)."""
    return f"/proc/self/fd/{fd}"
