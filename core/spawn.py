"""The lean start of ``create``, ``run`` and ``exec``: fork the init before any heavy import,
so that the waiting init holds only the standard library modules it needs (see
:mod:`limpet.core.init`). Also the pid file and socket activation, which need no more.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket


def spawn_init(subreaper: bool = False) -> tuple[int, socket]:
    """Fork the init from the current (lean) point; returns (pid, runtime's socket end)."""
    from . import init  # lean; imported before the fork so the child shares its pages
    from .sync import socketpair

    if subreaper:
        from .syscalls import Syscalls, const

        Syscalls().prctl(const("PR_SET_CHILD_SUBREAPER"), 1)
    ours, theirs = socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        init.main(theirs)
    theirs.close()
    return pid, ours


def listen_fds() -> int:
    """How many sockets systemd-style socket activation passed us (fds 3..), as runc's
    ``activation.Files``: LISTEN_FDS, if LISTEN_PID names this process."""
    try:
        if int(os.environ.get("LISTEN_PID", "")) != os.getpid():
            return 0
        return max(0, int(os.environ.get("LISTEN_FDS", "")))
    except ValueError:
        return 0


def write_pid_file(path: str, pid: int) -> None:
    """Decimal pid, no newline, written atomically (as runc does)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
