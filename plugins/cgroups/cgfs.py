"""The few file operations limpet does on a cgroupfs (lean: standard library, limpet.core).

Every failure becomes an :class:`~limpet.core.errors.ExecutionError` naming the config path
and the file, with the kernel's reason (``linux.resources.memory.limit: writing 1000 to
/sys/fs/cgroup/memory/limpet/x/memory.limit_in_bytes: Device or resource busy``).
Cgroup directories are only ever removed with rmdir(2), deepest first: never ``rm -r``.
"""

from __future__ import annotations

import errno
import os
import time

from limpet.core.errors import ExecutionError


def _shown(value: str) -> str:
    return repr(value) if not value or " " in value else value


def write(path: str, value: str, where: str | None, hint: str | None = None) -> None:
    """Write ``value`` to an existing cgroup file with one write(2) (never creates it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        code = exc.errno or errno.EIO
        if hint is None and code == errno.ENOENT:
            hint = "the kernel does not offer this file (controller not enabled or unsupported)"
        raise ExecutionError(where, f"writing {_shown(value)} to {path}: {os.strerror(code)}",
                             errno=code, hint=hint) from None


def apply(path: str, value: str, where: str | None, hint: str | None = None,
          alternatives: list[tuple[str, str]] | None = None, verify: bool = False,
          usage: str | None = None) -> None:
    """Write one setting: to ``path``, or, if that file does not exist, to the first of
    ``alternatives`` (file names in the same directory, each with its own value) that does;
    ``usage``: refuse a limit below the current usage in that file first (runc's
    checkBeforeUpdate); ``verify``: read the value back (a kernel may accept and ignore)."""
    directory = os.path.dirname(path)
    for name, other in alternatives or []:
        if os.path.exists(path):
            break
        if os.path.exists(os.path.join(directory, name)):
            path, value = os.path.join(directory, name), other
    if usage is not None and value not in ("-1", "max"):
        used = int(read(os.path.join(directory, usage), where))
        if used > int(value):
            raise ExecutionError(where, f"the cgroup already uses {used} bytes, more than the "
                                 f"new limit {value} (checkBeforeUpdate)")
    write(path, value, where, hint)
    if verify:
        got = read(path, where)
        if got != value:
            raise ExecutionError(where, f"the kernel accepted {value} for {path} but ignored "
                                 f"it (it reads {got})", hint=hint)


def read(path: str, where: str | None = None) -> str:
    """The stripped content of a cgroup file (os.read: no buffered text file around it)."""
    chunks: list[bytes] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise ExecutionError(where, f"reading {path}: {os.strerror(code)}", errno=code) \
            from None
    return b"".join(chunks).decode().strip()


def mkdir(path: str) -> bool:
    """Create one cgroup directory; False if it exists already. (Tests replace this to
    emulate the kernel populating a new cgroup with its files.)"""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return False
    return True


def rmdir(path: str) -> None:
    """Remove one (empty of child cgroups) cgroup directory. (Tests replace this too.)"""
    os.rmdir(path)


def make_one(path: str, where: str | None) -> bool:
    """:func:`mkdir` with errors naming ``where``; True if the directory is new."""
    try:
        return mkdir(path)
    except OSError as exc:
        code = exc.errno or errno.EIO
        hint = None
        if code in (errno.EACCES, errno.EPERM, errno.EROFS) and os.geteuid() != 0:
            hint = ("a rootless container gets a cgroup only when it sets linux.resources, "
                    "and then needs a cgroup this user may write (a delegated cgroup v2 "
                    "subtree); drop the limits, or set linux.cgroupsPath inside a delegated "
                    "subtree")
        raise ExecutionError(where, f"creating cgroup {path}: {os.strerror(code)}",
                             errno=code, hint=hint) from None


def make(mount: str, path: str, where: str | None) -> list[str]:
    """Create ``path`` and its missing parents below ``mount``; returns the new ones,
    top down (so that teardown can remove the parents it made too)."""
    return [level for level in levels(mount, path)[1:] if make_one(level, where)]


def levels(mount: str, path: str) -> list[str]:
    """The directories from ``mount`` (included) down to ``path`` (included)."""
    rel = os.path.relpath(path, mount)
    if rel == "." or rel.startswith(".."):
        raise ExecutionError("linux.cgroupsPath", f"{path} is not below the cgroup mount "
                             f"{mount}")
    out = [mount]
    for part in rel.split("/"):
        out.append(os.path.join(out[-1], part))
    return out


def remove(path: str, timeout: float = 5.0) -> None:
    """rmdir ``path`` and any child cgroups (deepest first), retrying while the kernel
    still counts exiting processes (EBUSY). A missing directory is not an error."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            _rmdir_tree(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                code = exc.errno or errno.EIO
                raise ExecutionError("linux.cgroupsPath",
                                     f"removing cgroup {exc.filename or path}: "
                                     f"{os.strerror(code)}", errno=code) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _rmdir_tree(path: str) -> None:
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            try:
                _rmdir_tree(entry.path)
            except FileNotFoundError:
                pass
    try:
        rmdir(path)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = path
        raise


def procs(path: str, recursive: bool = True) -> list[int]:
    """The pids in ``cgroup.procs`` of ``path`` (and of its child cgroups)."""
    found: list[int] = []
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            found += [int(line) for line in f if line.strip()]
    except FileNotFoundError:
        return found
    if recursive:
        try:
            entries = list(os.scandir(path))
        except OSError:
            entries = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found += procs(entry.path)
    return found
