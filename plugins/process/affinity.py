"""process.execCPUAffinity (config.md#linux-process) and the CPU/node list format.

execCPUAffinity does not apply to the container's init (the spec says so): it is checked
here and kept in the plan's process facts (``plan.process["execCPUAffinity"]``, lists of
CPU numbers) for ``exec``, which pins the runtime's parent process to ``initial`` before
it joins the container's cgroup and the process to ``final`` after it.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import os

from limpet.core.errors import ExecutionError, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "process.execCPUAffinity"
#: CPU_SETSIZE-like bound for CPU numbers, and the kernel's MAX_NUMNODES bound for nodes
MAX_CPUS = 8192
MAX_NODES = 1024


def parse_list(text: str, where: str, what: str = "CPU", limit: int = MAX_CPUS) -> list[int]:
    """``"0-3, 7"`` -> [0, 1, 2, 3, 7] (cpuset(7) list format; empty -> [])."""
    numbers: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            if text.strip():
                raise SpecError(where, f"{text!r}: empty item in the {what} list")
            continue
        low_text, dash, high_text = part.partition("-")
        try:
            low = int(low_text.strip())
            high = int(high_text.strip()) if dash else low
        except ValueError:
            raise SpecError(where, f"{text!r}: {part!r} is not a {what} number or a range "
                            "like 0-3") from None
        if low > high:
            raise SpecError(where, f"{text!r}: the range {part!r} goes backwards")
        if high >= limit:
            raise SpecError(where, f"{text!r}: {what} {high} is beyond the largest "
                            f"supported ({limit - 1})")
        numbers.update(range(low, high + 1))
    return sorted(numbers)


def validate(spec: Any) -> None:
    affinity = spec.process.exec_cpu_affinity
    if affinity is None:
        return
    for name in ("initial", "final"):
        value = getattr(affinity, name)
        if value:
            parse_list(value, f"{WHERE}.{name}")


def plan(spec: Any, plan: Any) -> None:
    affinity = spec.process.exec_cpu_affinity
    if affinity is None:
        return
    plan.process["execCPUAffinity"] = {
        name: parse_list(value, f"{WHERE}.{name}") if value else None
        for name, value in (("initial", affinity.initial), ("final", affinity.final))}


def plan_exec(spec: Any, plan: Any) -> None:
    """``exec``: ``initial`` pins the exec init before it joins the container's cgroups
    (``prepare``, by the runtime); ``final`` pins the process once inside."""
    affinity = spec.process.exec_cpu_affinity
    if affinity is None:
        return
    if affinity.initial:
        plan.add("prepare", "exec-affinity-initial", f"{WHERE}.initial",
                 cpus=parse_list(affinity.initial, f"{WHERE}.initial"))
    if affinity.final:
        plan.add("process", "exec-affinity-final", f"{WHERE}.final",
                 cpus=parse_list(affinity.final, f"{WHERE}.final"))


def _pin(pid: int, args: dict[str, Any]) -> None:
    try:
        os.sched_setaffinity(pid, args["cpus"])
    except OSError as exc:
        raise ExecutionError(args.get("where"), f"sched_setaffinity {args['cpus']}: "
                             f"{exc.strerror} (are these CPUs online and allowed?)",
                             errno=exc.errno) from None


def set_initial(pctx: Any, args: dict[str, Any]) -> None:
    """Parent side: pin the exec init (not yet in the container's cgroups)."""
    _pin(pctx.init_pid, args)


def set_final(ctx: Any, args: dict[str, Any]) -> None:
    """In the exec process, inside the container's cgroups."""
    _pin(0, args)
