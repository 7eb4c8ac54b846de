"""process.oomScoreAdj (config.md#linux-process): the OOM killer's adjustment.

Set by the runtime on the init's ``/proc/PID/oom_score_adj`` in the ``prepare`` phase,
before the init enters any namespace (the container process inherits it at the fork), as
runc's nsexec does before it creates a user namespace: the kernel checks the writer's
CAP_SYS_RESOURCE in the initial user namespace. Absent, nothing is written: the container
keeps the runtime's own value. Lowering the value below what this process tree may set
needs CAP_SYS_RESOURCE; a refusal says so.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import errno

from limpet.core.errors import ExecutionError, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "process.oomScoreAdj"
MIN, MAX = -1000, 1000
PROC = "/proc"   # a seam for unit tests


def validate(spec: Any) -> None:
    value = spec.process.oom_score_adj
    if value is not None and not MIN <= value <= MAX:
        raise SpecError(WHERE, f"{value} is out of range ({MIN} to {MAX})")


def plan(spec: Any, plan: Any) -> None:
    value = spec.process.oom_score_adj
    if value is not None:
        plan.add("prepare", "set-oom-score-adj", WHERE, value=value)


def _read(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def set_oom_score_adj(pctx: Any, args: dict[str, Any]) -> None:
    """Parent side: write the init's oom_score_adj; a refusal names the runtime's own."""
    value = int(args["value"])
    path = f"{PROC}/{pctx.init_pid}/oom_score_adj"
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as exc:
        own = _read(f"{PROC}/self/oom_score_adj")
        if exc.errno in (errno.EACCES, errno.EPERM) and own is not None and value < own:
            raise ExecutionError(WHERE, f"cannot set {value} (lower than the runtime's own "
                                 f"{own}): CAP_SYS_RESOURCE is not available",
                                 errno=exc.errno) from None
        raise ExecutionError(WHERE, f"cannot set {value} in {path}: {exc.strerror}",
                             errno=exc.errno) from None
