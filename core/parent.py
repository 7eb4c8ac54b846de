"""Parent-side ops: what their handlers get (:class:`ParentContext`) and how they run.

Used by ``create`` and ``exec`` (parent phases) and by ``delete`` (teardown ops), so it is
lean: standard library and limpet.core.errors only (no dataclasses: ``delete`` is on the
engines' hot path).
"""

from __future__ import annotations

import sys

from .errors import LimpetError, os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class ParentContext:
    """What parent-side op handlers get."""

    def __init__(self, container_id: str, bundle: str, state_dir: str, init_pid: int,
                 pid: int | None = None) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.state_dir = state_dir
        self.init_pid = init_pid            # the first init (namespace owner until the fork)
        self.pid = pid                      # the container process, once forked
        self.teardown: list[dict[str, Any]] = []
        self.undo: list[Callable[[], None]] = []
        self.annotations: dict[str, str] = {}
        #: facts for later verbs, saved in state.json; ``procsFiles``: files that list the
        #: container's pids one per line (cgroup.procs), used by kill --all and delete
        self.facts: dict[str, Any] = {}
        self.init_reaped = False

    @property
    def target_pid(self) -> int:
        return self.pid or self.init_pid

    def on_delete(self, kind: str, where: str | None = None, **args: Any) -> None:
        """Record an op to run at ``delete`` (and at rollback of a failed create)."""
        self.teardown.append({"kind": kind, "args": args, "where": where})


def _import_handler(target: str) -> Callable[..., Any]:
    module_name, _, func = target.partition(":")
    __import__(module_name)
    handler: Callable[..., Any] = getattr(sys.modules[module_name], func)
    return handler


def run_parent_ops(pctx: ParentContext, ops: list[Any], handlers: dict[str, str]) -> None:
    for op in ops:
        data = op if isinstance(op, dict) else op.to_json()
        args = dict(data.get("args", {}))
        args.setdefault("where", data.get("where"))
        try:
            _import_handler(handlers[data["kind"]])(pctx, args)
        except LimpetError as exc:
            if exc.where is None:
                exc.where = data.get("where")
            raise
        except OSError as exc:
            raise os_error(data.get("where"), data["kind"], exc) from None


def run_teardown(teardown: list[dict[str, Any]], handlers: dict[str, str],
                 pctx: ParentContext) -> list[str]:
    """Run teardown ops in reverse; returns the failures (never raises)."""
    failures = []
    for op in reversed(teardown):
        try:
            run_parent_ops(pctx, [op], handlers)
        except Exception as exc:  # keep going: every resource deserves a try
            failures.append(f"cleanup {op['kind']}: {exc}")
    return failures
