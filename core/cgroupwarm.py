"""Hide the kernel's cgroup attach wait behind the runtime's start-up.

Moving a process into a cgroup (a write to ``cgroup.procs``) takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing. When nothing has taken it lately, the kernel first
waits for an RCU grace period (``rcu_sync_enter``), ~10 ms on the hosts limpet targets: the
largest single cost of ``create`` (runc and crun pay it too, unless the hierarchy is mounted
with ``favordynmods`` or the process is cloned into its cgroup). Once a writer has been
through, the next writers skip the wait until a grace period passes with none.

The waiting init has nothing to do while the runtime loads its plugins and plans (~30 ms),
and the cgroup attach comes right after. So it moves itself into the cgroup it is already
in, a no-op the kernel still takes the lock for, at once (paying the grace period while
the runtime works) and then every few milliseconds until the plan arrives: the attach that
the plan asks for then finds the lock warm. Best effort: any failure (rootless, no cgroupfs
mounted, a cgroup that refuses the write) ends the warm-up, and nothing depends on it.
Lean: standard library only; runs in the forked init before it has a plan.
"""

from __future__ import annotations

import os
import select
import time

#: How often the lock is taken again: well inside the grace period after which the kernel
#: would make the next writer wait again.
INTERVAL = 0.004
#: The warm-up ends after this long even if no plan came (it then only waits).
LIMIT = 2.0


def own_procs_file(cgroup: str = "/proc/self/cgroup",
                   mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The ``cgroup.procs`` of this process's own cgroup in the first mounted hierarchy
    found (cgroup2, or a v1 hierarchy by its controllers or name), or None."""
    try:
        with open(cgroup) as f:   # "ID:CONTROLLERS:PATH" lines
            own = [parts[1:] for parts in (line.rstrip("\n").split(":", 2) for line in f)
                   if len(parts) == 3]
        with open(mountinfo) as f:
            mounts = f.read().splitlines()
    except (OSError, ValueError):
        return None
    for line in mounts:
        fields = line.split(" ")
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        fstype, options = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype == "cgroup2":
            path = next((p for controllers, p in own if not controllers), None)
        elif fstype == "cgroup":   # a v1 hierarchy: its controllers (or name=) are options
            flags = set(options.split(","))
            path = next((p for controllers, p in own
                         if controllers and set(controllers.split(",")) <= flags), None)
        else:
            continue
        root, mount_point = fields[3], fields[4]
        if path is None or not (path == root or path.startswith(root.rstrip("/") + "/")):
            continue
        return os.path.join(mount_point, path[len(root):].strip("/"), "cgroup.procs")
    return None


def keep_warm(sock_fd: int, interval: float = INTERVAL, limit: float = LIMIT) -> int:
    """Take the attach lock now and every ``interval`` seconds until ``sock_fd`` is
    readable (the plan came, or the runtime is gone) or ``limit`` passed. Returns how many
    times it was taken."""
    path = own_procs_file()
    if path is None:
        return 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    taken = 0
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                os.write(fd, b"0")   # 0: the writer itself, into the cgroup it is in
            except OSError:
                break
            taken += 1
            ready, _, _ = select.select([sock_fd], [], [], interval)
            if ready or time.monotonic() > deadline:
                break
    finally:
        os.close(fd)
    return taken
