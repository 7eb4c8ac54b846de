"""The hooks a limpet plugin may implement (pluggy project name ``limpet``).

Built-in plugins and third-party ones implement the same hooks and are loaded the same way,
from the ``limpet.plugins`` entry-point group. Every hook runs in the runtime process, never
in the container's init: what must happen inside the container is expressed as plan
operations whose handlers are plain functions (see :mod:`limpet.core.plan`).

Hooks since API version 1 unless noted.
"""

from __future__ import annotations

from .pluginapi import hookspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .context import ExecContext, LifecycleContext, PlanContext
    from .plan import Plan
    from .pluginapi import Backend, PluginInfo
    from .spec import Spec


@hookspec(firstresult=True)
def limpet_declare() -> PluginInfo:
    """Describe the plugin: name, version, the spec paths it claims, its features fragment
    and the pydantic model of its options in config.yaml.

    Called once at load, in the runtime process. ``firstresult``: each plugin answers for
    itself (the core calls it per plugin). A plugin without it cannot be loaded.
    """
    raise NotImplementedError


@hookspec
def limpet_op_handlers() -> dict[str, str]:
    """Return ``{op kind: "module:function"}`` for the operation kinds this plugin adds.

    The init imports the module of every op kind in a plan before it unshares anything, so
    every handler module must be lean: the standard library and lean ``limpet.core``
    modules only (errors, syscalls, paths, plan, sync, log), all imported at module
    level (after pivot_root the host's Python library is out of reach). Parent-side
    handlers run in the runtime process and may import more inside the function. Two
    plugins defining one kind is a configuration error. Called once at load.
    """
    raise NotImplementedError


@hookspec
def limpet_backends() -> list[Backend]:
    """Return swappable backends (e.g. cgroup drivers) this plugin offers, each a
    :class:`~limpet.core.pluginapi.Backend` with an area and a name; config.yaml chooses one
    per area by name. Called once at load.
    """
    raise NotImplementedError


@hookspec
def limpet_validate(spec: Spec, ctx: PlanContext) -> None:
    """Check the parts of ``spec`` this plugin claims; raise
    :class:`~limpet.core.errors.SpecError` naming the JSON path of the first bad field.

    Pure: no side effects. Runs in the runtime process for ``create``, ``run``, ``check`` and
    ``plan``, before any change to the host. All plugins run; the first error wins.
    """
    raise NotImplementedError


@hookspec
def limpet_plan(spec: Spec, plan: Plan, ctx: PlanContext) -> None:
    """Add this plugin's operations to ``plan`` (``plan.add(phase, kind, where, **args)``).

    Pure: describe, never do. Runs after every ``limpet_validate`` passed. Order between
    plugins does not matter: phases order the work.
    """
    raise NotImplementedError


@hookspec
def limpet_plan_exec(spec: Spec, plan: Plan, ctx: ExecContext) -> None:
    """Check and plan ``limpet exec`` of another process in a running container.

    ``spec`` is the container's config.json with ``process`` replaced by the process to
    execute (``--process`` or the command line), already checked against the schema;
    ``ctx.pid`` is the container's init on the host, ``ctx.state`` its state.json. Raise
    :class:`~limpet.core.errors.SpecError` for a bad ``process`` field; add the operations
    that join what the container has (its namespaces, its cgroups, its seccomp filter) and
    apply the process's attributes. Pure, like ``limpet_plan``. Optional: a plugin without
    it adds nothing to an exec.
    """
    raise NotImplementedError


@hookspec
def limpet_created(ctx: LifecycleContext) -> None:
    """The container reached ``created``: the init waits for ``start``.

    Runs in the runtime process of ``create`` after state.json is written. An exception
    fails the create and rolls it back.
    """
    raise NotImplementedError


@hookspec
def limpet_started(ctx: LifecycleContext) -> None:
    """The user program was released by ``start`` (the container is ``running``).

    Runs in the runtime process of ``start``, after the init was released. An exception
    fails ``start`` (non-zero exit, the error shown); stopping the container first, if the
    failure calls for it, is the plugin's business (runtime-spec 1.3: a failed poststart
    hook stops the container).
    """
    raise NotImplementedError


@hookspec
def limpet_deleted(ctx: LifecycleContext) -> None:
    """The container was deleted: its processes are gone and its teardown ops have run.

    Runs in the runtime process of ``delete`` before the state directory is removed.
    Errors are reported as warnings; deletion goes on.
    """
    raise NotImplementedError


#: The hooks the core calls during verbs after ``create``. A container gets them only if a
#: plugin's ``limpet_plan`` asked (``plan.lifecycle.add(name)``): recorded in state.json,
#: so that ``start``/``delete`` load plugins only for containers that need them.
LIFECYCLE_HOOKS = ("limpet_created", "limpet_started", "limpet_deleted")

