"""What a program that limpet execs inherits: stdio (and what it asks to keep), no more.

Lean (the init and the hook runner import it): the standard library only.
"""

from __future__ import annotations

import os


def cloexec_above(keep: int) -> None:
    """Mark every fd above ``keep`` close-on-exec (runc does the same before exec)."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(keep + 1, 1024))
    for fd in fds:
        if fd > keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
