"""Process operations, run in the container process (after pivot_root).

Order follows runc's finalizeNamespace: bounding set, keep-caps, groups, gid, uid, then
the capability sets and ambient set, then no_new_privs (config.md#process,
config.md#linux-process). Lean: standard library and limpet.core only, all imported at
module level: after pivot_root the host's Python library is out of reach.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import struct
import termios

from limpet.core import sync
from limpet.core.errors import ExecutionError
from limpet.core.syscalls import const

from .names import CAP_NUMBER, CAPABILITIES, RLIM_INFINITY_SPEC, RLIMITS, last_cap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

def _mask(names: list[str] | None) -> int:
    mask = 0
    for name in names or []:
        number = CAP_NUMBER.get(name)
        if number is not None and number <= last_cap():
            mask |= 1 << number
    return mask


def set_rlimits(ctx: Any, args: dict[str, Any]) -> None:
    """process.rlimits: setrlimit(2) each; a refusal names the limit and the values."""
    for item in args["rlimits"]:
        name = item["type"]
        if name not in RLIMITS:
            raise ExecutionError(item["where"], f"{name} is not known to this system")
        number = const(name)
        soft, hard = (resource.RLIM_INFINITY if v == RLIM_INFINITY_SPEC else v
                      for v in (item["soft"], item["hard"]))
        try:
            resource.setrlimit(number, (soft, hard))
        except (OSError, ValueError) as exc:
            current = resource.getrlimit(number)[1]
            shown = "unlimited" if current == resource.RLIM_INFINITY else str(current)
            if getattr(exc, "errno", None) == errno.EPERM or (
                    hard != resource.RLIM_INFINITY and current != resource.RLIM_INFINITY
                    and hard > current) or (hard == resource.RLIM_INFINITY and
                                            current != resource.RLIM_INFINITY):
                raise ExecutionError(item["where"], f"{name} hard {item['hard']} exceeds the "
                                     f"runtime's own hard limit {shown} and CAP_SYS_RESOURCE "
                                     "is not available", errno=errno.EPERM) from None
            raise ExecutionError(item["where"], f"{name} soft {item['soft']} hard "
                                 f"{item['hard']}: {exc}") from None


def set_umask(ctx: Any, args: dict[str, Any]) -> None:
    os.umask(args["umask"])


def prepare_cwd(ctx: Any, args: dict[str, Any]) -> None:
    """Create process.cwd if it is missing (runc does), as root, inside the new root."""
    os.makedirs(args["cwd"], mode=0o755, exist_ok=True)


def set_home(ctx: Any, args: dict[str, Any]) -> None:
    """Set HOME from the container's /etc/passwd when the config does not (runc does)."""
    env = ctx.process.setdefault("env", [])
    if any(e.startswith("HOME=") for e in env):
        return
    home = "/"
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) > 5 and fields[2] == str(args["uid"]):
                    home = fields[5] or "/"
                    break
    except OSError:
        pass
    env.append(f"HOME={home}")


def set_credentials(ctx: Any, args: dict[str, Any]) -> None:
    """Bounding set, groups, gid, uid, capability sets, ambient set, cwd."""
    sysc = ctx.sys
    caps = args.get("capabilities")
    if caps is not None:
        keep = _mask(caps.get("bounding"))
        try:
            for number in range(last_cap() + 1):
                if not keep & (1 << number):
                    sysc.prctl(const("PR_CAPBSET_DROP"), number)
        except OSError as exc:
            raise ExecutionError("process.capabilities.bounding", f"cannot drop "
                                 f"{CAPABILITIES[number]} from the bounding set: "
                                 f"{exc.strerror}", errno=exc.errno) from None
        sysc.prctl(const("PR_SET_KEEPCAPS"), 1)
    try:
        os.setgroups(args.get("additionalGids") or [])
    except PermissionError as exc:
        if args.get("additionalGids"):
            raise ExecutionError("process.user.additionalGids", f"setgroups "
                                 f"{args['additionalGids']}: {exc.strerror}",
                                 errno=exc.errno) from None
    uid, gid = args.get("uid", 0), args.get("gid", 0)
    try:
        os.setresgid(gid, gid, gid)
    except OSError as exc:
        raise ExecutionError("process.user.gid", f"setgid {gid}: {exc.strerror}") from None
    try:
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise ExecutionError("process.user.uid", f"setuid {uid}: {exc.strerror}") from None
    if caps is not None:
        sysc.prctl(const("PR_SET_KEEPCAPS"), 0)
        try:
            sysc.capset(_mask(caps.get("effective")), _mask(caps.get("permitted")),
                        _mask(caps.get("inheritable")))
        except OSError as exc:
            raise ExecutionError("process.capabilities", f"capset (effective, permitted, "
                                 f"inheritable): {exc.strerror}", errno=exc.errno,
                                 hint="effective and inheritable capabilities must be "
                                 "permitted (inheritable: also in the bounding set)") from None
        sysc.prctl(const("PR_CAP_AMBIENT"), const("PR_CAP_AMBIENT_CLEAR_ALL"))
        for name in caps.get("ambient") or []:
            ambient = CAP_NUMBER.get(name)
            if ambient is not None and ambient <= last_cap():
                try:
                    sysc.prctl(const("PR_CAP_AMBIENT"), const("PR_CAP_AMBIENT_RAISE"), ambient)
                except OSError as exc:
                    # runc warns and goes on: ambient needs the capability inheritable too.
                    ctx.warn("process.capabilities.ambient", f"cannot raise {name}: "
                             f"{exc.strerror} (an ambient capability must be permitted and "
                             "inheritable)", level="info")
    cwd = args.get("cwd", "/")
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise ExecutionError("process.cwd", f'chdir to cwd ("{cwd}") set in config.json '
                             f"failed: {exc.strerror.lower() if exc.strerror else exc}") \
            from None


def no_new_privileges(ctx: Any, args: dict[str, Any]) -> None:
    try:
        ctx.sys.prctl(const("PR_SET_NO_NEW_PRIVS"), 1)
    except OSError as exc:
        raise ExecutionError("process.noNewPrivileges", f"prctl(PR_SET_NO_NEW_PRIVS): "
                             f"{exc.strerror}", errno=exc.errno) from None


_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441


def setup_terminal(ctx: Any, args: dict[str, Any]) -> None:
    """process.terminal: a pty from the container's devpts; the master goes to the runtime
    (for --console-socket or ``run``), the slave becomes stdio and controlling terminal."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ExecutionError("process.terminal", f"cannot open /dev/ptmx in the container "
                             f"({exc.strerror}); is /dev/pts mounted?") from None
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    size = args.get("consoleSize")
    if size:
        fcntl.ioctl(master, termios.TIOCSWINSZ,
                    struct.pack("HHHH", size["height"], size["width"], 0, 0))
    sync.send(ctx.sock, {"terminal": True}, fds=[master])
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
