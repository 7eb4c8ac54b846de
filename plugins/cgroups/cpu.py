"""linux.resources.cpu: shares, quota, period, burst, realtime, idle (config-linux.md#cpu).

- v1: ``cpu.shares``, ``cpu.cfs_period_us`` then ``cpu.cfs_quota_us`` (runc's order), then
  ``cpu.cfs_burst_us``; ``cpu.rt_period_us`` then ``cpu.rt_runtime_us``; ``cpu.idle``;
- v2: ``cpu.weight`` = 1 + ((shares - 2) * 9999) / 262142 (runc's
  ConvertCPUSharesToCgroupV2Value), ``cpu.max`` = "quota period" (``max`` for no quota),
  ``cpu.max.burst``, ``cpu.idle``. v2 has no realtime group scheduling: asking for it is an
  error.

cpus and mems belong to the cpuset controller (:mod:`.cpuset`). As in runc, 0 means "not set"
for shares, quota, period and the realtime values, and a quota of -1 means "no limit";
burst and idle are written whenever present (0 is a value for them).
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting, is_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle")
WHERE = "linux.resources.cpu"
#: The kernel's bounds for cpu.shares (kernel/sched: MIN_SHARES, MAX_SHARES); runc refuses
#: values it would clamp.
MIN_SHARES, MAX_SHARES = 2, 262144
RT_HINT = "the kernel lacks CONFIG_RT_GROUP_SCHED (no cpu.rt_* files)"


def validate(resources: Any) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    if is_set(cpu.shares) and not MIN_SHARES <= cpu.shares <= MAX_SHARES:
        raise SpecError(f"{WHERE}.shares", f"{cpu.shares} is outside the kernel's range "
                        f"{MIN_SHARES}-{MAX_SHARES}")
    if is_set(cpu.quota) and cpu.quota < -1:
        raise SpecError(f"{WHERE}.quota", f"{cpu.quota} is not -1 (no limit) or a positive "
                        "number of microseconds")
    if is_set(cpu.realtime_runtime) and cpu.realtime_runtime < -1:
        raise SpecError(f"{WHERE}.realtimeRuntime", f"{cpu.realtime_runtime} is not -1 (no "
                        "limit) or a number of microseconds")
    if cpu.idle is not None and cpu.idle not in (0, 1):
        raise SpecError(f"{WHERE}.idle", f"{cpu.idle} is not 0 or 1")


def shares_to_weight(shares: int) -> int:
    """cgroup v2 cpu.weight (1-10000) for cgroup v1 cpu.shares (2-262144)."""
    return 1 + ((shares - 2) * 9999) // 262142


def v1(resources: Any) -> list[Setting]:
    cpu = resources.cpu
    if cpu is None:
        return []
    out: list[Setting] = []
    if is_set(cpu.shares):
        out.append(Setting("cpu", "cpu.shares", str(cpu.shares), f"{WHERE}.shares"))
    if is_set(cpu.period):
        out.append(Setting("cpu", "cpu.cfs_period_us", str(cpu.period), f"{WHERE}.period"))
    if is_set(cpu.quota):
        out.append(Setting("cpu", "cpu.cfs_quota_us", str(cpu.quota), f"{WHERE}.quota"))
    if cpu.burst is not None:
        out.append(Setting("cpu", "cpu.cfs_burst_us", str(cpu.burst), f"{WHERE}.burst",
                           probe=cpu.burst != 0, hint="the kernel has no CFS burst (Linux 5.14+)"))
    if is_set(cpu.realtime_period):
        out.append(Setting("cpu", "cpu.rt_period_us", str(cpu.realtime_period),
                           f"{WHERE}.realtimePeriod", probe=True, hint=RT_HINT))
    if is_set(cpu.realtime_runtime):
        out.append(Setting("cpu", "cpu.rt_runtime_us", str(cpu.realtime_runtime),
                           f"{WHERE}.realtimeRuntime", probe=True, hint=RT_HINT))
    if cpu.idle is not None:
        out.append(Setting("cpu", "cpu.idle", str(cpu.idle), f"{WHERE}.idle",
                           probe=cpu.idle != 0,
                           hint="the kernel has no SCHED_IDLE cgroups (Linux 5.15+)"))
    return out


def v2(resources: Any) -> list[Setting]:
    cpu = resources.cpu
    if cpu is None:
        return []
    for name, alias in (("realtime_runtime", "realtimeRuntime"),
                        ("realtime_period", "realtimePeriod")):
        if is_set(getattr(cpu, name)):
            raise SpecError(f"{WHERE}.{alias}", "cgroup v2 has no realtime group scheduling")
    out: list[Setting] = []
    if is_set(cpu.shares):
        out.append(Setting("cpu", "cpu.weight", str(shares_to_weight(cpu.shares)),
                           f"{WHERE}.shares"))
    if is_set(cpu.quota) or is_set(cpu.period):
        value = str(cpu.quota) if is_set(cpu.quota) and cpu.quota > 0 else "max"
        if is_set(cpu.period):
            value += f" {cpu.period}"
        where = f"{WHERE}.quota" if is_set(cpu.quota) else f"{WHERE}.period"
        out.append(Setting("cpu", "cpu.max", value, where))
    if cpu.burst is not None:
        out.append(Setting("cpu", "cpu.max.burst", str(cpu.burst), f"{WHERE}.burst"))
    if cpu.idle is not None:
        out.append(Setting("cpu", "cpu.idle", str(cpu.idle), f"{WHERE}.idle"))
    return out
