"""linux.resources.memory (config-linux.md#memory).

- v1: ``memory.limit_in_bytes``, ``memory.soft_limit_in_bytes`` and
  ``memory.memsw.limit_in_bytes``; on v1 the spec's ``swap`` is memory+swap, written after
  the memory limit (the kernel wants memsw >= limit), or before it when both go unlimited
  (:func:`order_v1` decides for an update, as runc's setMemoryAndSwap does). ``kernel`` and
  ``kernelTCP`` are ``memory.kmem.limit_in_bytes`` and ``memory.kmem.tcp.limit_in_bytes``
  (the first is read back: kernels since 5.16 accept and ignore it), ``swappiness``
  ``memory.swappiness``, ``disableOOMKiller`` ``memory.oom_control``, ``useHierarchy``
  ``memory.use_hierarchy``.
- v2: ``memory.max``, ``memory.swap.max``, which counts swap alone: ``swap - limit``
  (runc's ConvertMemorySwapToCgroupV2Value), and ``memory.low`` (independent files). v2 has
  no kernel, kernelTCP, swappiness or OOM-killer switch: asking for them is an error; the
  hierarchy is always in use (``useHierarchy: true`` is what v2 does anyway).
- ``checkBeforeUpdate``: the limit is refused if the cgroup already uses more
  (``memory.usage_in_bytes`` / ``memory.current``), checked right before writing it.

As in runc, 0 means "not set" and -1 means "unlimited".
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting, is_set, unlimited

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness",
             "disableOOMKiller", "useHierarchy", "checkBeforeUpdate")
WHERE = "linux.resources.memory"
MEMSW_HINT = ("memory+swap accounting is off in this kernel (memory.memsw.* files absent); "
              "boot with swapaccount=1 or remove linux.resources.memory.swap")
KMEM_HINT = ("kernels since 5.16 no longer enforce kernel memory limits on cgroup v1; "
             "remove linux.resources.memory.kernel")
_BYTES = ("limit", "reservation", "swap", "kernel", "kernel_tcp")


def validate(resources: Any) -> None:
    mem = resources.memory
    if mem is None:
        return
    for name in _BYTES:
        value = getattr(mem, name)
        if is_set(value) and value < -1:
            raise SpecError(f"{WHERE}.{_alias(name)}", f"{value} is not -1 (unlimited) or a "
                            "positive number of bytes")
    if mem.swappiness is not None and mem.swappiness > 100:
        raise SpecError(f"{WHERE}.swappiness", f"{mem.swappiness} is outside 0-100")
    if is_set(mem.swap) and mem.swap != -1:
        if not is_set(mem.limit) or mem.limit == -1:
            raise SpecError(f"{WHERE}.swap", "a swap limit needs a memory limit "
                            f"({WHERE}.limit)")
        if mem.swap < mem.limit:
            raise SpecError(f"{WHERE}.swap", f"{mem.swap} is below {WHERE}.limit "
                            f"({mem.limit}): swap is the memory+swap limit")


_ALIASES = {"kernel_tcp": "kernelTCP", "disable_oom_killer": "disableOOMKiller"}


def _alias(name: str) -> str:
    return _ALIASES.get(name, name)


def _limit(mem: Any, file: str, value: str, usage: str) -> Setting:
    return Setting("memory", file, value, f"{WHERE}.limit",
                   usage=usage if mem.check_before_update else None)


def v1(resources: Any) -> list[Setting]:
    mem = resources.memory
    if mem is None:
        return []
    out: list[Setting] = []
    if is_set(mem.kernel):
        out.append(Setting("memory", "memory.kmem.limit_in_bytes", str(mem.kernel),
                           f"{WHERE}.kernel", hint=KMEM_HINT, probe=True, verify=True))
    if is_set(mem.kernel_tcp):
        out.append(Setting("memory", "memory.kmem.tcp.limit_in_bytes", str(mem.kernel_tcp),
                           f"{WHERE}.kernelTCP", probe=True))
    limit = swap = None
    if is_set(mem.limit):
        limit = _limit(mem, "memory.limit_in_bytes", str(mem.limit), "memory.usage_in_bytes")
    if is_set(mem.swap):
        swap = Setting("memory", "memory.memsw.limit_in_bytes", str(mem.swap), f"{WHERE}.swap",
                       hint=MEMSW_HINT, probe=True)
    order = [swap, limit] if mem.swap == -1 else [limit, swap]
    out += [s for s in order if s is not None]
    if is_set(mem.reservation):
        out.append(Setting("memory", "memory.soft_limit_in_bytes", str(mem.reservation),
                           f"{WHERE}.reservation"))
    if mem.swappiness is not None:
        out.append(Setting("memory", "memory.swappiness", str(mem.swappiness),
                           f"{WHERE}.swappiness", probe=True))
    if mem.disable_oom_killer:
        out.append(Setting("memory", "memory.oom_control", "1", f"{WHERE}.disableOOMKiller"))
    if mem.use_hierarchy:
        out.append(Setting("memory", "memory.use_hierarchy", "1", f"{WHERE}.useHierarchy"))
    return out


def order_v1(settings: list[Setting], current_limit: int) -> list[Setting]:
    """runc's setMemoryAndSwap for an update: with both limits set, write memory+swap first
    when it goes unlimited or above the current memory limit, so that memsw >= limit holds
    after every write."""
    files = [s.file for s in settings]
    if "memory.limit_in_bytes" not in files or "memory.memsw.limit_in_bytes" not in files:
        return settings
    limit = settings[files.index("memory.limit_in_bytes")]
    swap = settings[files.index("memory.memsw.limit_in_bytes")]
    swap_first = swap.value == "-1" or current_limit < int(swap.value)
    rest = [s for s in settings if s is not limit and s is not swap]
    first, second = (swap, limit) if swap_first else (limit, swap)
    at = min(files.index(limit.file), files.index(swap.file))
    return rest[:at] + [first, second] + rest[at:]


def swap_v2(swap: int | None, limit: int | None) -> str | None:
    """memory.swap.max from the spec's memory+swap value (None: leave it alone)."""
    if not is_set(swap):
        return "max" if limit == -1 else None
    assert swap is not None
    if swap == -1:
        return "max"
    assert limit is not None
    return str(swap - limit)


_NO_V2 = {
    "kernel": "cgroup v2 has no kernel memory limit (kernel memory is part of memory.max)",
    "kernel_tcp": "cgroup v2 has no TCP buffer limit (it is part of memory.max)",
    "swappiness": "cgroup v2 has no per-cgroup swappiness",
    "disable_oom_killer": "cgroup v2 cannot disable the OOM killer",
}


def v2(resources: Any) -> list[Setting]:
    mem = resources.memory
    if mem is None:
        return []
    for name, why in _NO_V2.items():
        value = getattr(mem, name)
        if value is not None and value is not False and (name == "swappiness" or value != 0):
            raise SpecError(f"{WHERE}.{_alias(name)}", why)
    out: list[Setting] = []
    if is_set(mem.limit):
        out.append(_limit(mem, "memory.max", unlimited(mem.limit), "memory.current"))
    swap = swap_v2(mem.swap, mem.limit)
    if swap is not None:
        out.append(Setting("memory", "memory.swap.max", swap,
                           f"{WHERE}.swap" if is_set(mem.swap) else f"{WHERE}.limit"))
    if is_set(mem.reservation):
        out.append(Setting("memory", "memory.low", unlimited(mem.reservation),
                           f"{WHERE}.reservation"))
    return out
