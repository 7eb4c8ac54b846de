"""Namespace operations, run in the init (lean: standard library and limpet.core only).

Order follows runc's nsexec: the user namespace first (joined or created; the runtime
writes the id maps), then every other namespace is joined by path and the rest created
with one unshare(2). A new time namespace gets its offsets before the first fork.
"""

from __future__ import annotations

import _socket  # socket without its enums: the init never imports socket
import fcntl
import os
import struct

from limpet.core.errors import ExecutionError
from limpet.core.syscalls import const

from .kinds import NAMESPACES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

def _flag(ns_type: str) -> int:
    return const(NAMESPACES[ns_type][0])


def join(ctx: Any, args: dict[str, Any]) -> None:
    """setns(2) into each namespace in ``args["join"]``; every fd is opened first."""
    fds = []
    try:
        for item in args["join"]:
            try:
                fds.append((os.open(item["path"], os.O_RDONLY | os.O_CLOEXEC), item))
            except OSError as exc:
                raise ExecutionError(item["where"], f"cannot open namespace {item['path']}: "
                                     f"{exc.strerror}") from None
        for fd, item in fds:
            try:
                ctx.sys.setns(fd, _flag(item["type"]), item["path"])
            except OSError as exc:
                raise ExecutionError(item["where"], f"cannot join {item['type']} namespace "
                                     f"{item['path']}: {exc.strerror}", errno=exc.errno) from None
            if item["type"] == "user":
                ctx.new_user_namespace = True
    finally:
        for fd, _ in fds:
            os.close(fd)


def unshare(ctx: Any, args: dict[str, Any]) -> None:
    """Create the namespaces in ``args["types"]`` with one unshare(2)."""
    flags = 0
    for ns_type in args["types"]:
        flags |= _flag(ns_type)
    unprivileged = os.geteuid() != 0
    ctx.sys.unshare(flags)
    if "user" in args["types"]:
        ctx.new_user_namespace = True
        if unprivileged:
            # A runtime that is not root can write our id maps only while /proc/PID is
            # its own: dumpable until become_root (runc's nsexec does the same).
            ctx.sys.prctl(const("PR_SET_DUMPABLE"), 1)
    offsets = args.get("time_offsets")
    if offsets:
        lines = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n"
                        for clock, o in offsets.items())
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)


def become_root(ctx: Any, args: dict[str, Any]) -> None:
    """After the id maps are written: act as uid/gid 0 of the new user namespace, and be
    non-dumpable again (see :func:`unshare`)."""
    ctx.sys.prctl(const("PR_SET_DUMPABLE"), 0)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def write_id_maps(pctx: Any, args: dict[str, Any]) -> None:
    """Parent side: write /proc/PID/{uid,gid}_map of the init's new user namespace."""
    from limpet.core.idmaps import write_id_maps as write  # runtime side only: not in the init

    write(pctx.init_pid, args["uid"], args["gid"], "linux")


def set_hostname(ctx: Any, args: dict[str, Any]) -> None:
    ctx.sys.sethostname(args["name"])


def set_domainname(ctx: Any, args: dict[str, Any]) -> None:
    ctx.sys.setdomainname(args["name"])


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def loopback_up(ctx: Any, args: dict[str, Any]) -> None:
    """Bring up ``lo`` in a new network namespace (runc's "loopback" network does too)."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    finally:
        s.close()
