"""seccomp operations (config-linux.md#seccomp).

``load_filter`` runs in the container process, in phase ``seccomp`` (with
noNewPrivileges: after the credentials) or ``seccomp-privileged`` (without: before the
credentials drop CAP_SYS_ADMIN), as runc orders it. It loads the BPF program the runtime
built with libseccomp; with SCMP_ACT_NOTIFY rules the kernel returns a notify fd, which goes
to the runtime (``InitContext.call_parent``) and is closed here, so that the container never
holds it. ``send_to_listener`` runs in the runtime process and sends the fd with the
container process state to ``listenerPath``; ``store_cache`` (runtime process, ``prepare``)
keeps a compiled program for the next create (cache.py).

Lean: standard library and limpet.core only; what the container side needs is imported at
module level (socket, for the runtime side only, is not).
"""

from __future__ import annotations

import errno
import os
from binascii import a2b_base64

from limpet.core import jsonlite
from limpet.core.errors import ExecutionError
from limpet.core.log import log
from limpet.core.syscalls import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.seccomp"
CACHE_ENTRIES = 64
#: Where limpet kept the cache before it was files in the state root (a directory there
#: looked like a container): removed when the cache is next written.
LEGACY_CACHE_DIR = "@seccomp-cache"


def load_filter(ctx: Any, args: dict[str, Any]) -> None:
    bpf = a2b_base64(args["bpf"])   # base64.b64decode without importing base64
    flags = 0
    for name in args.get("flags") or []:
        flags |= const(name)
    listener = args.get("listener")
    try:
        fd = ctx.sys.seccomp_filter(bpf, flags)
    except OSError as exc:
        raise ExecutionError(WHERE, f"the kernel refused the filter ({len(bpf) // 8} "
                             f"instructions, flags {' '.join(args.get('flags') or []) or 'none'})"
                             f": {exc.strerror}", errno=exc.errno,
                             hint=_hint(exc.errno)) from None
    if not listener:
        return
    try:
        ctx.call_parent("seccomp-listener", fds=[fd], **listener)
    finally:
        os.close(fd)


def _hint(code: int | None) -> str | None:
    if code == errno.EACCES:
        return ("without process.noNewPrivileges a filter can only be loaded with "
                "CAP_SYS_ADMIN in the container's user namespace")
    if code == errno.EINVAL:
        return "a flag in linux.seccomp.flags may be unknown to this kernel"
    return None


def send_to_listener(pctx: Any, args: dict[str, Any]) -> None:
    """Runtime side: the container process state and the notify fd to ``listenerPath``
    (config-linux.md#the-container-process-state): one connection, one message, closed."""
    from limpet.core.sync import connect_unix, send_fds  # runtime side only

    fds = args.get("fds") or []
    if len(fds) != 1:
        raise ExecutionError(WHERE, f"the init sent {len(fds)} fds for the seccomp listener, "
                             "expected the notify fd")
    message: dict[str, Any] = {
        "ociVersion": args["ociVersion"],
        "fds": ["seccompFd"],
        "pid": pctx.pid,
        "state": {"ociVersion": args["ociVersion"], "id": pctx.container_id,
                  "status": "creating", "pid": pctx.pid, "bundle": pctx.bundle,
                  "annotations": dict(pctx.annotations)},
    }
    if args.get("metadata") is not None:
        message["metadata"] = args["metadata"]
    data = jsonlite.dumps(message).encode()
    path = args["path"]
    try:
        conn = connect_unix(path)
        try:
            # The fds ride with the first sendmsg (the spec allows more calls, fds first).
            conn.sendall(data[send_fds(conn, data, fds):])
        finally:
            conn.close()
    except OSError as exc:
        raise ExecutionError(f"{WHERE}.listenerPath", f"cannot send the seccomp notify fd "
                             f"to {path}: {exc.strerror or exc}", errno=exc.errno) from None


def store_cache(pctx: Any, args: dict[str, Any]) -> None:
    """Runtime side: write a compiled program to the cache, atomically, keeping the newest
    CACHE_ENTRIES. A failure only costs the next create a compile: logged, not raised."""
    from .cache import is_entry

    path = args["path"]
    directory = os.path.dirname(path)   # the state root, which create has made
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write(jsonlite.dumps({k: args[k] for k in ("bpf", "rules", "skipped",
                                                         "library")}))
        os.rename(tmp, path)
        entries = sorted((e for e in os.scandir(directory) if is_entry(e.name)),
                         key=lambda e: e.stat().st_mtime)
        for old in entries[:-CACHE_ENTRIES]:
            os.unlink(old.path)
    except OSError as exc:
        log.debug(f"{WHERE}: the compiled filter was not cached: {exc}")
        try:
            os.unlink(tmp)
        except OSError:
            pass
    _remove_legacy_cache(directory)


def _remove_legacy_cache(directory: str) -> None:
    """Remove the old cache directory (flat files, never followed through a symlink)."""
    legacy = os.path.join(directory, LEGACY_CACHE_DIR)
    try:
        fd = os.open(legacy, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return   # none (or not a directory we would remove)
    try:
        for name in os.listdir(fd):
            os.unlink(name, dir_fd=fd)
        os.rmdir(legacy)
    except OSError as exc:
        log.debug(f"{WHERE}: the old cache directory {legacy} was not removed: {exc}")
    finally:
        os.close(fd)
