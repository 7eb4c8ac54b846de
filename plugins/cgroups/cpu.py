"""linux.resources.cpu shares, quota and period (config-linux.md#cpu).

- v1: ``cpu.shares``, ``cpu.cfs_period_us`` then ``cpu.cfs_quota_us`` (runc's order);
- v2: ``cpu.weight`` = 1 + ((shares - 2) * 9999) / 262142 (runc's
  ConvertCPUSharesToCgroupV2Value) and ``cpu.max`` = "quota period" (``max`` for no quota).

cpus and mems belong to the cpuset controller (:mod:`.cpuset`). As in runc, 0 means "not set"
and a quota of -1 means "no limit".
"""

from __future__ import annotations

from typing import Any

from limpet.core.errors import SpecError

from .base import Setting, is_set

SECTION = "cpu"
SUPPORTED = ("shares", "quota", "period")
WHERE = "linux.resources.cpu"
#: The kernel's bounds for cpu.shares (kernel/sched: MIN_SHARES, MAX_SHARES); runc refuses
#: values it would clamp.
MIN_SHARES, MAX_SHARES = 2, 262144


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
    return out


def v2(resources: Any) -> list[Setting]:
    cpu = resources.cpu
    if cpu is None:
        return []
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
    return out
