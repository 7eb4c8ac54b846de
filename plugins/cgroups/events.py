"""OOM notifications and the ``events`` stream (lean: standard library, limpet.core).

- v1: an eventfd registered for ``memory.oom_control`` through ``cgroup.event_control``
  (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control"): the kernel signals it at
  every OOM in the cgroup, and once more when the cgroup is removed;
- v2: ``memory.events``, whose changes the kernel notifies (poll(2) POLLPRI); an OOM is an
  increase of its ``oom_kill`` counter.

:func:`stream` emits ``{"type": "oom", "id": ...}`` as OOMs happen and a ``stats`` event
every interval (runc's ``events`` output), until the container stops.
"""

from __future__ import annotations

import os
import select
import time

from limpet.core.errors import ExecutionError

from . import cgfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class OomWatch:
    """Counts the OOM events of one memory cgroup; :meth:`wait` blocks up to a timeout."""

    def __init__(self, driver: str, directory: str | None) -> None:
        self.driver = driver
        self.directory = directory
        self.fd = -1
        self.last = 0
        if directory is None:
            return
        if driver == "v1":
            self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            control = os.open(os.path.join(directory, "memory.oom_control"),
                              os.O_RDONLY | os.O_CLOEXEC)
            try:
                cgfs.write(os.path.join(directory, "cgroup.event_control"),
                           f"{self.fd} {control}", "events")
            except ExecutionError:
                os.close(self.fd)
                raise
            finally:
                os.close(control)
        else:
            self.fd = os.open(os.path.join(directory, "memory.events"),
                              os.O_RDONLY | os.O_CLOEXEC)
            self.last = self._oom_kills()

    def _oom_kills(self) -> int:
        os.lseek(self.fd, 0, os.SEEK_SET)
        for line in os.read(self.fd, 4096).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def wait(self, timeout: float) -> int:
        """The number of OOM events within ``timeout`` seconds (0 after a timeout)."""
        if self.fd < 0:
            time.sleep(max(timeout, 0))
            return 0
        poller = select.poll()
        poller.register(self.fd, select.POLLIN if self.driver == "v1"
                        else select.POLLPRI | select.POLLERR)
        if not poller.poll(max(timeout, 0) * 1000):
            return 0
        if self.driver == "v1":
            try:
                count = int.from_bytes(os.read(self.fd, 8), "little")
            except BlockingIOError:
                return 0
            if self.directory and not os.path.isdir(self.directory):
                return 0   # the cgroup was removed: not an OOM
            return count
        try:
            now = self._oom_kills()
        except OSError:
            return 0
        new, self.last = max(now - self.last, 0), now
        return new

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def stream(driver: str, memory_dir: str | None, container_id: str, interval: float,
           stats: Callable[[], dict[str, Any]], alive: Callable[[], bool],
           emit: Callable[[dict[str, Any]], None]) -> None:
    """OOM events as they come, stats every ``interval`` seconds, until ``alive()`` is
    False."""
    watch = OomWatch(driver, memory_dir)
    try:
        due = time.monotonic() + interval
        while True:
            for _ in range(watch.wait(min(due - time.monotonic(), 1.0))):
                emit({"type": "oom", "id": container_id})
            if not alive():
                return
            if time.monotonic() >= due:
                emit({"type": "stats", "id": container_id, "data": stats()})
                due += interval
    finally:
        watch.close()
