"""linux.resources.memory (config-linux.md#memory): limit, reservation, swap.

- v1: ``memory.limit_in_bytes``, ``memory.soft_limit_in_bytes`` and
  ``memory.memsw.limit_in_bytes``; on v1 the spec's ``swap`` is memory+swap, written after
  the memory limit (the kernel wants memsw >= limit), or before it when both go unlimited.
- v2: ``memory.max``, ``memory.swap.max``, which counts swap alone: ``swap - limit``
  (runc's ConvertMemorySwapToCgroupV2Value), and ``memory.low`` (independent files).

As in runc, 0 means "not set" and -1 means "unlimited".
"""

from __future__ import annotations

from typing import Any

from limpet.core.errors import SpecError

from .base import Setting, is_set, unlimited

SECTION = "memory"
SUPPORTED = ("limit", "reservation", "swap")
WHERE = "linux.resources.memory"
MEMSW_HINT = ("memory+swap accounting is off in this kernel (memory.memsw.* files absent); "
              "boot with swapaccount=1 or remove linux.resources.memory.swap")


def validate(resources: Any) -> None:
    mem = resources.memory
    if mem is None:
        return
    for name in SUPPORTED:
        value = getattr(mem, name)
        if is_set(value) and value < -1:
            raise SpecError(f"{WHERE}.{name}", f"{value} is not -1 (unlimited) or a positive "
                            "number of bytes")
    if is_set(mem.swap) and mem.swap != -1:
        if not is_set(mem.limit) or mem.limit == -1:
            raise SpecError(f"{WHERE}.swap", "a swap limit needs a memory limit "
                            f"({WHERE}.limit)")
        if mem.swap < mem.limit:
            raise SpecError(f"{WHERE}.swap", f"{mem.swap} is below {WHERE}.limit "
                            f"({mem.limit}): swap is the memory+swap limit")


def v1(resources: Any) -> list[Setting]:
    mem = resources.memory
    if mem is None:
        return []
    out: list[Setting] = []
    limit = swap = None
    if is_set(mem.limit):
        limit = Setting("memory", "memory.limit_in_bytes", str(mem.limit), f"{WHERE}.limit")
    if is_set(mem.swap):
        swap = Setting("memory", "memory.memsw.limit_in_bytes", str(mem.swap), f"{WHERE}.swap",
                       hint=MEMSW_HINT, probe=True)
    order = [swap, limit] if mem.swap == -1 else [limit, swap]
    out += [s for s in order if s is not None]
    if is_set(mem.reservation):
        out.append(Setting("memory", "memory.soft_limit_in_bytes", str(mem.reservation),
                           f"{WHERE}.reservation"))
    return out


def swap_v2(swap: int | None, limit: int | None) -> str | None:
    """memory.swap.max from the spec's memory+swap value (None: leave it alone)."""
    if not is_set(swap):
        return "max" if limit == -1 else None
    assert swap is not None
    if swap == -1:
        return "max"
    assert limit is not None
    return str(swap - limit)


def v2(resources: Any) -> list[Setting]:
    mem = resources.memory
    if mem is None:
        return []
    out: list[Setting] = []
    if is_set(mem.limit):
        out.append(Setting("memory", "memory.max", unlimited(mem.limit), f"{WHERE}.limit"))
    swap = swap_v2(mem.swap, mem.limit)
    if swap is not None:
        out.append(Setting("memory", "memory.swap.max", swap,
                           f"{WHERE}.swap" if is_set(mem.swap) else f"{WHERE}.limit"))
    if is_set(mem.reservation):
        out.append(Setting("memory", "memory.low", unlimited(mem.reservation),
                           f"{WHERE}.reservation"))
    return out
