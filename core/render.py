"""Human-readable views (rich): the plan, one line per operation, grouped by phase."""

from __future__ import annotations

from typing import Any

from .plan import PHASES


def print_plan(plan: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True, highlight=False)
    for phase, side in PHASES:
        ops = plan.ops(phase)
        if not ops:
            continue
        console.print(f"[bold]{phase}[/bold] [dim]({side})[/dim]")
        for op in ops:
            origin = f"  [dim]<- {escape(op.where or '')} ({escape(op.plugin or 'core')})[/dim]"
            console.print(f"  {escape(op.describe())}{origin}")
    process = plan.process
    args, cwd, rootfs = (escape(str(process.get(k))) for k in ("args", "cwd", "rootfs"))
    console.print(f"[bold]exec[/bold] {args} in {cwd} (rootfs {rootfs})")
