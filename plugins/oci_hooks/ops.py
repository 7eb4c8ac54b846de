"""OCI hook operations (config.md#posix-platform-hooks, runtime.md#lifecycle).

- ``oci_hooks:runtime`` (parent side, ``create-runtime``): prestart, then createRuntime
  hooks, in the runtime process and its namespaces; the state has the container process's
  host pid and status ``creating``.
- ``oci_hooks:container`` (container side, ``create-container`` before pivot_root and
  ``start-container`` after ``start``): createContainer and startContainer hooks, forked from
  the container process, so in all its namespaces; the state's pid is the container's view
  (runtime.md#state: "for hooks executed in the container namespace, the pid as seen by the
  container").
- ``oci_hooks:record`` (parent side, ``prepare``): saves the poststart and poststop hooks in
  state.json (``facts.ociHooks``) for ``start`` and ``delete``, and has a failed create run
  the poststop hooks after its rollback (runtime.md#lifecycle: "continue the lifecycle at
  step 12").

Lean (imported by the container's init): standard library and lean limpet.core modules only,
all at module level.
"""

from __future__ import annotations

import os

from limpet.core.log import log

from . import runner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FACTS = "ociHooks"


def run_runtime(pctx: Any, args: dict[str, Any]) -> None:
    state = runner.hook_state(args["state"], "creating", pctx.target_pid)
    runner.run_hooks(args["hook"], args["hooks"], state)


def run_container(ctx: Any, args: dict[str, Any]) -> None:
    state = runner.hook_state(args["state"], args["status"], os.getpid())
    runner.run_hooks(args["hook"], args["hooks"], state)


def record(pctx: Any, args: dict[str, Any]) -> None:
    pctx.facts[FACTS] = {"poststart": args["poststart"], "poststop": args["poststop"]}
    if args["poststop"]:
        base, hooks = args["state"], args["poststop"]
        pctx.undo.append(lambda: run_poststop(base, hooks))


def run_poststop(base: dict[str, Any], hooks: list[dict[str, Any]]) -> None:
    """Every poststop hook runs; failures are warnings (runtime.md#lifecycle step 13)."""
    state = runner.hook_state(base, "stopped", None)
    for failure in runner.run_hooks_warning("poststop", hooks, state):
        log.warning(failure)
