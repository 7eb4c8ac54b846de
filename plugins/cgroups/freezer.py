"""Freezing a container's cgroup: ``pause`` and ``resume`` (lean: standard library, limpet.core).

- v1: ``freezer.state`` of the freezer hierarchy: write ``FROZEN`` and wait until it reads
  ``FROZEN`` (it reads ``FREEZING`` meanwhile). Freezing can stall on a task the kernel
  cannot freeze yet, so, like runc, the write is repeated and the cgroup is briefly thawed
  now and then before trying again;
- v2: ``cgroup.freeze`` = 1, then wait for ``frozen 1`` in ``cgroup.events`` (the kernel
  notifies changes of that file: poll(2) with POLLPRI).

A cgroup that will not freeze within the timeout is thawed again and the error says so.
"""

from __future__ import annotations

import os
import select
import time

from limpet.core.errors import ExecutionError

from . import cgfs

WHERE = "pause"
TIMEOUT = 10.0


def is_frozen(driver: str, directory: str) -> bool:
    """Whether the container's cgroup is frozen (or being frozen, for v1's FREEZING)."""
    try:
        if driver == "v1":
            return cgfs.read(os.path.join(directory, "freezer.state")) in ("FROZEN",
                                                                            "FREEZING")
        return cgfs.read(os.path.join(directory, "cgroup.freeze")) == "1"
    except ExecutionError:
        return False


def freeze(driver: str, directory: str, timeout: float = TIMEOUT) -> None:
    if driver == "v1":
        _freeze_v1(directory, timeout)
    else:
        _freeze_v2(directory, timeout)


def thaw(driver: str, directory: str) -> None:
    if driver == "v1":
        cgfs.write(os.path.join(directory, "freezer.state"), "THAWED", "resume")
    else:
        cgfs.write(os.path.join(directory, "cgroup.freeze"), "0", "resume")


def _freeze_v1(directory: str, timeout: float) -> None:
    state = os.path.join(directory, "freezer.state")
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        if attempt % 50 == 0:   # let a task that blocks freezing run on, then try again
            cgfs.write(state, "THAWED", WHERE)
            time.sleep(0.01)
        cgfs.write(state, "FROZEN", WHERE)
        if cgfs.read(state, WHERE) == "FROZEN":
            return
        if time.monotonic() >= deadline:
            cgfs.write(state, "THAWED", WHERE)
            raise ExecutionError(WHERE, f"{directory} did not freeze in {timeout:g}s "
                                 "(left thawed)")
        time.sleep(min(0.001 * attempt, 0.05))


def _frozen_v2(events: str) -> bool:
    for line in cgfs.read(events, WHERE).splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    return False


def _freeze_v2(directory: str, timeout: float) -> None:
    events = os.path.join(directory, "cgroup.events")
    cgfs.write(os.path.join(directory, "cgroup.freeze"), "1", WHERE)
    deadline = time.monotonic() + timeout
    fd = os.open(events, os.O_RDONLY | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI | select.POLLERR)
        while not _frozen_v2(events):
            left = deadline - time.monotonic()
            if left <= 0:
                cgfs.write(os.path.join(directory, "cgroup.freeze"), "0", WHERE)
                raise ExecutionError(WHERE, f"{directory} did not freeze in {timeout:g}s "
                                     "(left thawed)")
            poller.poll(min(left, 0.1) * 1000)
    finally:
        os.close(fd)
