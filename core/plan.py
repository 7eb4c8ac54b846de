"""The plan: ordered, serialisable operations grouped by named phase.

Plugins compile config.json into a :class:`Plan` (``limpet_plan`` hook); the core executes
it. Order comes from the phase list below, then from insertion order within a phase, never
from plugin priority. Each phase runs on one *side*:

- ``parent``: in the runtime process, while the init waits on the sync socket;
- ``init``: in the first child, before the pid-namespace fork (namespace setup);
- ``container``: in the container process (PID 1 of its pid namespace) before the user
  program is executed.

An operation names a *kind*; each kind has a handler ``"module:function"`` registered by a
plugin (``limpet_op_handlers`` hook). Handlers of ``init``/``container`` ops run in the lean
init, so their modules must import only the standard library and ``limpet.core`` lean modules.

This module is imported by the lean init: no imports at all (not even dataclasses, which
pulls in inspect and re).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: (phase, side) in execution order. The spec's lifecycle points map onto it: createRuntime
#: hooks run in ``create-runtime``; createContainer hooks in ``create-container``; the
#: runtime reports "created" after ``seccomp``; ``start`` releases ``start-container``.
PHASES: tuple[tuple[str, str], ...] = (
    ("prepare", "parent"),           # host-side set-up before the init exists
    ("join-cgroups", "parent"),      # exec: move the init into the container's cgroups
    ("user-namespace", "init"),      # join or create the user namespace first
    ("id-maps", "parent"),           # write uid_map/gid_map of the new user namespace
    ("namespaces", "init"),          # join and create every other namespace
    ("init-created", "parent"),      # the init's namespaces exist: netDevices
    ("rootfs", "container"),         # make / private, bind the root filesystem
    ("mounts", "container"),         # mounts[] in order
    ("devices", "container"),        # /dev nodes and links
    ("create-runtime", "parent"),    # createRuntime hooks (runtime namespace)
    ("create-container", "container"),  # createContainer hooks (container namespace)
    ("pivot", "container"),          # pivot_root / chroot
    ("sysctl", "container"),         # linux.sysctl, before /proc/sys is made read-only
    ("finalize-rootfs", "container"),   # masked, read-only paths; read-only root
    ("process", "container"),        # hostname, rlimits, cwd, ...
    # seccomp loads last before "created", as runc: without noNewPrivileges loading needs
    # CAP_SYS_ADMIN, so it precedes the credentials; with it, it follows them.
    ("seccomp-privileged", "container"),  # no noNewPrivileges: load the filter
    ("credentials", "container"),    # groups, uid/gid, capabilities, no_new_privs
    ("seccomp", "container"),        # noNewPrivileges: load the filter
    ("start-container", "container"),   # after `start`: startContainer hooks
)
PHASE_SIDE: dict[str, str] = dict(PHASES)
PHASE_ORDER: dict[str, int] = {name: i for i, (name, _) in enumerate(PHASES)}
#: Phases before this index run before the runtime reports the container created.
WAIT_BEFORE = "start-container"
#: The program is resolved in PATH before this phase (as runc: before a filter that
#: noNewPrivileges lets load last, so that the lookup's syscalls are not filtered).
RESOLVE_BEFORE = "seccomp"


class Op:
    """One operation. ``where`` is the config path it comes from, for error messages."""

    def __init__(self, kind: str, args: dict[str, Any] | None = None,
                 where: str | None = None, plugin: str | None = None) -> None:
        self.kind = kind
        self.args: dict[str, Any] = {} if args is None else args
        self.where = where
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"Op({self.kind!r}, {self.args!r}, where={self.where!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and (self.kind, self.args, self.where, self.plugin) == \
            (other.kind, other.args, other.where, other.plugin)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "args": self.args}
        if self.where:
            data["where"] = self.where
        if self.plugin:
            data["plugin"] = self.plugin
        return data

    def describe(self) -> str:
        parts = [f"{k}=<{len(v)} characters>" if isinstance(v, str) and len(v) > 120
                 else f"{k}={v!r}" for k, v in self.args.items() if v not in (None, [], {}, "")]
        return f"{self.kind} {' '.join(parts)}".rstrip()


class Plan:
    """Operations by phase. ``handlers`` maps each op kind to ``module:function``."""

    def __init__(self, handlers: dict[str, str] | None = None) -> None:
        self.phases: dict[str, list[Op]] = {p: [] for p, _ in PHASES}
        self.handlers: dict[str, str] = {} if handlers is None else handlers
        #: Facts the executor needs that are not operations (rootfs path, program, env).
        self.process: dict[str, Any] = {}
        #: The lifecycle hooks this container needs (``plan.lifecycle.add(...)``):
        #: recorded in state.json, so ``start``/``delete`` load plugins only when asked to.
        self.lifecycle: set[str] = set()
        self.current_plugin: str | None = None

    def add(self, phase: str, kind: str, where: str | None = None, **args: Any) -> Op:
        """Append an operation to ``phase`` (a name from :data:`PHASES`)."""
        if phase not in self.phases:
            raise ValueError(f"unknown plan phase {phase!r}; phases: {', '.join(PHASE_SIDE)}")
        op = Op(kind, args, where, self.current_plugin)
        self.phases[phase].append(op)
        return op

    def ops(self, phase: str) -> list[Op]:
        return self.phases[phase]

    def kinds(self) -> set[str]:
        return {op.kind for ops in self.phases.values() for op in ops}

    def to_json(self) -> dict[str, Any]:
        return {
            "phases": [
                {"phase": name, "side": side, "ops": [op.to_json() for op in self.phases[name]]}
                for name, side in PHASES
            ],
            "handlers": {k: v for k, v in sorted(self.handlers.items()) if k in self.kinds()},
            "process": self.process,
        }

    def dumps(self) -> str:
        from . import jsonlite

        return jsonlite.dumps(self.to_json(), compact=True)


def phases_from_json(data: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The executor's view of a serialised plan: (phase, side, ops) in order."""
    return [(p["phase"], p["side"], p["ops"]) for p in data["phases"]]
