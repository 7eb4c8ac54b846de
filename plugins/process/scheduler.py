"""process.scheduler and process.ioPriority (config.md#linux-process).

Both are set on the container process in the ``credentials`` phase, before the capability
sets are applied, so that what needs privilege (a real-time policy, a negative nice value,
the real-time I/O class) is done while the init still has its capabilities, and inherited
by the user program across execve.

- scheduler: ``sched_setattr(2)`` with the policy, flags, nice, priority and the deadline
  parameters (absent numbers are 0, as the spec says). Checked first like runc's validator
  and the kernel: nice in -20..19, a priority 1..99 for SCHED_FIFO/SCHED_RR only, runtime,
  deadline and period for SCHED_DEADLINE only, with runtime <= deadline <= period.
- ioPriority: ``ioprio_set(2)`` of the container process (IOPRIO_WHO_PROCESS), inherited
  by every process it starts. runc uses IOPRIO_WHO_PGRP of the init's process group, which
  it shares with the runtime and its caller; limpet sets only the container's processes.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import errno
import os

from limpet.core.errors import ExecutionError, SpecError
from limpet.core.syscalls import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHED = "process.scheduler"
IOPRIO = "process.ioPriority"
REALTIME = ("SCHED_FIFO", "SCHED_RR")
#: the smallest deadline runtime the kernel accepts (1 << DL_SCALE ns)
DL_MIN_RUNTIME = 1024


def validate_scheduler(spec: Any) -> None:
    sched = spec.process.scheduler
    if sched is None:
        return
    policy = sched.policy
    if policy == "SCHED_ISO":
        raise SpecError(f"{SCHED}.policy", "SCHED_ISO is not implemented by the Linux kernel")
    nice = sched.nice or 0
    if not -20 <= nice <= 19:
        raise SpecError(f"{SCHED}.nice", f"{nice} is out of range (-20 to 19)")
    priority = sched.priority or 0
    if policy in REALTIME:
        if not 1 <= priority <= 99:
            raise SpecError(f"{SCHED}.priority", f"{policy} needs a priority from 1 to 99, "
                            f"got {priority}")
    elif priority:
        raise SpecError(f"{SCHED}.priority", f"a priority applies to SCHED_FIFO and "
                        f"SCHED_RR only, not {policy}")
    runtime, deadline, period = sched.runtime or 0, sched.deadline or 0, sched.period or 0
    if policy != "SCHED_DEADLINE":
        for name, value in (("runtime", runtime), ("deadline", deadline), ("period", period)):
            if value:
                raise SpecError(f"{SCHED}.{name}", f"applies to SCHED_DEADLINE only, not "
                                f"{policy}")
        return
    if runtime < DL_MIN_RUNTIME:
        raise SpecError(f"{SCHED}.runtime", f"SCHED_DEADLINE needs a runtime of at least "
                        f"{DL_MIN_RUNTIME} ns, got {runtime}")
    if deadline < runtime:
        raise SpecError(f"{SCHED}.deadline", f"{deadline} is less than the runtime {runtime}")
    if period and period < deadline:
        raise SpecError(f"{SCHED}.period", f"{period} is less than the deadline {deadline}")


def validate_io_priority(spec: Any) -> None:
    io = spec.process.io_priority
    if io is not None and not 0 <= (io.priority or 0) <= 7:
        raise SpecError(f"{IOPRIO}.priority", f"{io.priority} is out of range (0, highest, to "
                        "7, lowest)")


def plan(spec: Any, plan: Any) -> None:
    sched = spec.process.scheduler
    if sched is not None:
        plan.add("credentials", "set-scheduler", SCHED, policy=sched.policy,
                 flags=list(sched.flags or []), nice=sched.nice or 0,
                 priority=sched.priority or 0, runtime=sched.runtime or 0,
                 deadline=sched.deadline or 0, period=sched.period or 0)
    io = spec.process.io_priority
    if io is not None:
        plan.add("credentials", "set-io-priority", IOPRIO, **{"class": io.class_},
                 priority=io.priority or 0)


def set_scheduler(ctx: Any, args: dict[str, Any]) -> None:
    policy = args["policy"]
    flags = 0
    for flag in args.get("flags") or []:
        flags |= const(flag)
    try:
        ctx.sys.sched_setattr(const(policy), flags, args.get("nice", 0),
                              args.get("priority", 0), args.get("runtime", 0),
                              args.get("deadline", 0), args.get("period", 0))
    except OSError as exc:
        hint = None
        if exc.errno == errno.EPERM and policy in REALTIME:
            hint = ("a real-time policy needs CAP_SYS_NICE and, on a kernel with "
                    "CONFIG_RT_GROUP_SCHED, a real-time budget in the container's cpu cgroup "
                    "(cpu.rt_runtime_us; linux.resources.cpu.realtimeRuntime)")
        elif exc.errno == errno.EPERM and policy == "SCHED_DEADLINE":
            hint = ("SCHED_DEADLINE needs CAP_SYS_NICE and a cpuset spanning a whole root "
                    "domain (it cannot be used with linux.resources.cpu.cpus)")
        elif exc.errno == errno.EPERM:
            hint = "a nice value below the current one needs CAP_SYS_NICE or RLIMIT_NICE"
        elif exc.errno == errno.EBUSY:
            hint = "the deadline admission test refused the bandwidth"
        detail = f"nice {args.get('nice', 0)}" if policy not in REALTIME else \
            f"priority {args.get('priority', 0)}"
        reason = os.strerror(exc.errno or 0)
        raise ExecutionError(SCHED, f"sched_setattr {policy} {detail}: {reason}",
                             errno=exc.errno, hint=hint) from None


def set_io_priority(ctx: Any, args: dict[str, Any]) -> None:
    io_class, priority = args["class"], args.get("priority", 0)
    value = const(io_class) << const("IOPRIO_CLASS_SHIFT") | priority
    try:
        ctx.sys.ioprio_set(const("IOPRIO_WHO_PROCESS"), 0, value)
    except OSError as exc:
        hint = "IOPRIO_CLASS_RT needs CAP_SYS_ADMIN or CAP_SYS_NICE" \
            if exc.errno == errno.EPERM else None
        reason = os.strerror(exc.errno or 0)
        raise ExecutionError(IOPRIO, f"ioprio_set {io_class} priority {priority}: {reason}",
                             errno=exc.errno, hint=hint) from None
