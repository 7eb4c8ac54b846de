"""``limpet run`` with process.terminal and no --console-socket: like runc's foreground
mode, the caller's terminal is put in raw mode and bridged to the container's pty."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Any


def copy_window_size(source: int, target: int) -> None:
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
    except OSError:
        pass


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def proxy(master: int) -> None:
    """Copy stdin to the pty and the pty to stdout until the container closes it."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    if os.isatty(stdin):
        copy_window_size(stdin, master)

    def resize(_signum: int, _frame: Any) -> None:
        copy_window_size(stdin, master)

    signal.signal(signal.SIGWINCH, resize)
    readers = [master, stdin]
    with _raw(stdin):
        while True:
            try:
                ready, _, _ = select.select(readers, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EIO:   # every slave fd closed: the container is done
                        break
                    raise
                if not data:
                    break
                os.write(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(master, data)
                else:
                    readers.remove(stdin)
                    os.write(master, b"\x04")   # EOF for a canonical-mode reader
    os.close(master)
