"""The oci_hooks plugin: the POSIX-platform hooks of config.json (config.md#posix-platform-hooks)
run at their lifecycle points (runtime.md#lifecycle).

- prestart, then createRuntime: ``create-runtime`` phase, in the runtime process (its
  namespaces; path on the host); state ``creating`` with the container process's host pid.
- createContainer: ``create-container`` phase, forked by the container process before
  pivot_root (the container's namespaces; path on the host); ``creating``, the pid as the
  container sees it.
- startContainer: ``start-container`` phase, forked by the container process after
  ``start`` (the container's namespaces; path in the container's root); ``created``.
- poststart: ``start``, after the program was executed (``limpet_started``); ``running``.
- poststop: ``delete`` (``limpet_deleted``), and after the rollback of a failed ``create``;
  ``stopped``.

A failing create-time hook fails ``create`` (rolled back); a failing startContainer hook
fails ``start`` and the program is never executed; a failing poststart hook stops the
container and fails ``start``; a failing poststop hook is a warning.
"""

from __future__ import annotations

import _signal
import os

from limpet.core.errors import ExecutionError, SpecError
from limpet.core.pluginapi import PluginInfo, hookimpl
from limpet.core.state import OCI_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "oci_hooks"
OPS = "limpet.plugins.oci_hooks.ops"
#: (config.json name, Spec attribute), in the order the spec lists (and runs) them.
KINDS = (("prestart", "prestart"), ("createRuntime", "create_runtime"),
         ("createContainer", "create_container"), ("startContainer", "start_container"),
         ("poststart", "poststart"), ("poststop", "poststop"))


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="0.1.0",
        claims=("hooks",),
        description="OCI hooks: prestart, createRuntime, createContainer, startContainer, "
                    "poststart, poststop",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {
        f"{NAME}:runtime": f"{OPS}:run_runtime",
        f"{NAME}:container": f"{OPS}:run_container",
        f"{NAME}:record": f"{OPS}:record",
    }


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    if spec.hooks is None:
        return
    for kind, attr in KINDS:
        for i, hook in enumerate(getattr(spec.hooks, attr) or []):
            where = f"hooks.{kind}[{i}]"
            if "\0" in hook.path:
                raise SpecError(f"{where}.path", "must not contain a NUL byte")
            if not os.path.isabs(hook.path):
                raise SpecError(f"{where}.path", f"{hook.path!r} must be an absolute path")
            for j, arg in enumerate(hook.args or []):
                if "\0" in arg:
                    raise SpecError(f"{where}.args[{j}]", "must not contain a NUL byte")
            for j, entry in enumerate(hook.env or []):
                name, eq, _ = entry.partition("=")
                if not eq or not name or "\0" in entry:
                    raise SpecError(f"{where}.env[{j}]", f"{entry!r} is not NAME=value")


def _entries(hooks: list[Any] | None) -> list[dict[str, Any]]:
    return [{"path": h.path, "args": list(h.args) if h.args else None,
             "env": list(h.env or []), "timeout": h.timeout} for h in hooks or []]


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    if spec.hooks is None:
        return
    listed = {kind: _entries(getattr(spec.hooks, attr)) for kind, attr in KINDS}
    base = {"ociVersion": OCI_VERSION, "id": ctx.container_id, "bundle": ctx.bundle,
            "annotations": dict(spec.annotations or {})}
    for kind in ("prestart", "createRuntime"):   # prestart MUST run before createRuntime
        if listed[kind]:
            plan.add("create-runtime", f"{NAME}:runtime", f"hooks.{kind}", hook=kind,
                     hooks=listed[kind], state=base)
    for kind, phase, status in (("createContainer", "create-container", "creating"),
                                ("startContainer", "start-container", "created")):
        if listed[kind]:
            plan.add(phase, f"{NAME}:container", f"hooks.{kind}", hook=kind,
                     hooks=listed[kind], state=base, status=status)
    if listed["poststart"] or listed["poststop"]:
        plan.add("prepare", f"{NAME}:record", "hooks", poststart=listed["poststart"],
                 poststop=listed["poststop"], state=base)
    # start and delete load plugins only for containers that asked for these.
    if listed["poststart"]:
        plan.lifecycle.add("limpet_started")
    if listed["poststop"]:
        plan.lifecycle.add("limpet_deleted")


def _recorded(state: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    from . import ops  # not at the top: create imports ops only for the hooks it records

    hooks: list[dict[str, Any]] = ((state.get("facts") or {}).get(ops.FACTS) or {}).get(kind)\
        or []
    return hooks


def _base(state: dict[str, Any]) -> dict[str, Any]:
    return {"ociVersion": OCI_VERSION, "id": state["id"], "bundle": state["bundle"],
            "annotations": state.get("annotations") or {}}


@hookimpl
def limpet_started(ctx: Any) -> None:
    """poststart: the program runs; a failing hook stops the container and fails start."""
    hooks = _recorded(ctx.state, "poststart")
    if not hooks:
        return
    from . import runner

    try:
        runner.run_hooks("poststart", hooks, runner.hook_state(_base(ctx.state), "running",
                                                               ctx.pid))
    except ExecutionError as exc:
        _stop(ctx)
        exc.add_note("the container was stopped")
        raise


def _stop(ctx: Any) -> None:
    """SIGKILL every process of the container and wait for its init to be gone."""
    from limpet.core.lifecycle import container_pids
    from limpet.core.state import wait_gone

    if not ctx.pid:
        return
    for pid in container_pids(ctx.state) or [ctx.pid]:
        try:
            os.kill(pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_gone(ctx.pid, 10.0, ctx.state.get("initStartTime"))


@hookimpl
def limpet_deleted(ctx: Any) -> None:
    """poststop: after the container was destroyed; failures are warnings."""
    hooks = _recorded(ctx.state, "poststop")
    if hooks:
        from . import ops

        ops.run_poststop(_base(ctx.state), hooks)
