"""Human-readable views (rich): the plan."""

from __future__ import annotations

from typing import Any

from .plan import PHASES


def print_plan(plan: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("PHASE", "SIDE", "OP", "FROM", "PLUGIN", title="limpet plan", box=None)
    for phase, side in PHASES:
        for op in plan.ops(phase):
            table.add_row(phase, side, op.describe(), op.where or "", op.plugin or "")
    Console().print(table)
    process = plan.process
    Console().print(f"then exec {process.get('args')} in {process.get('cwd')} "
                    f"(rootfs {process.get('rootfs')})")
