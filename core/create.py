"""``create``: load, validate and plan in the runtime process, then drive the init.

The init is forked by :func:`limpet.core.spawn.spawn_init` before this module (and its
heavy imports) is loaded (see :mod:`limpet.core.init`). Everything ``create`` makes is
pushed on an undo stack; if any step fails, the stack is unwound (processes killed,
teardown ops run, state dir removed) and the first error is reported, with cleanup
failures added as notes.
"""

from __future__ import annotations

import os

from . import jsonlite, sync
from .errors import ContainerError, ExecutionError, SpecError, from_wire, os_error
from .lifecycle import SIGKILL
from .log import log
from .parent import ParentContext, run_parent_ops, run_teardown
from .record import Record
from .state import OCI_VERSION, Store, proc_start_time, remove_tree
from .trace import span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any, Protocol

    class ConsoleRequest(Protocol):
        """Where a terminal's pty master goes (a create or an exec request)."""

        console_socket: str | None
        console_fd: int | None


class CreateRequest(Record):
    container_id: str
    bundle: str
    root: str
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    listen_fds: int = 0                # LISTEN_FDS of the caller (socket activation)
    config_file: str | None = None
    foreground: bool = False           # ``run`` without -d
    tty: bool = False                  # ``run -t``: process.terminal, whatever config.json says
    console_fd: int | None = None      # the pty master, when run proxies the terminal
    rootless: bool | None = None       # --rootless true/false; None: auto (HostInfo's)


def kill_and_reap(pid: int | None, reap: bool) -> None:
    """SIGKILL ``pid``; wait for it (our child or orphan) or until it is gone."""
    if not pid:
        return
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        return
    if reap:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    else:
        from .state import wait_gone

        wait_gone(pid, timeout=5.0)


def load_runtime(config_file: str | None, root: str) -> tuple[Any, Any]:
    """config.yaml and the plugins it enables: (runtime config, plugins). ``root``: the
    state root, where the plugins' entry points are cached."""
    from . import config, plugins

    with span("load config.yaml"):
        runtime_config, doc, config_path = config.load(config_file)
    with span("load plugins"):
        loaded = plugins.load(runtime_config, doc, config_path, cache_dir=root)
    return runtime_config, loaded


def chosen_backends(runtime_config: Any, loaded: Any) -> dict[str, Any]:
    """area -> the Backend config.yaml chose (areas it leaves out: the plugin decides)."""
    return {area: choices[runtime_config.backends[area]]
            for area, choices in loaded.backends.items() if area in runtime_config.backends}


def run_plan_hooks(loaded: Any, hook: str, spec: Any, plan: Any, ctx: Any) -> None:
    """Call ``hook`` (limpet_plan, limpet_plan_exec) of each plugin one by one, not through
    pluggy's broadcast, so that errors, ops and LIMPET_TRACE timings name the plugin."""
    for name, plugin in loaded.loaded.items():
        if hasattr(plugin.module, hook):
            plan.current_plugin = name
            with span(f"hook {hook} [{name}]"):
                getattr(plugin.module, hook)(spec=spec, plan=plan, ctx=ctx)
    plan.current_plugin = None


def check_handlers(plan: Any) -> None:
    """Every op kind of ``plan`` needs a registered handler."""
    missing = sorted(k for k in plan.kinds() if k not in plan.handlers)
    if missing:
        raise ExecutionError(None, f"no handler registered for op kind(s) {', '.join(missing)}")


def compile_bundle(req: CreateRequest, state_dir: str) -> tuple[Any, Any, Any, Any]:
    """Load config.yaml, the plugins and config.json; validate and plan (no side effects).

    Returns (spec, raw config dict, plan, plugins).
    """
    with span("import the spec models and the planner"):
        from . import claims
        from .context import HostInfo, PlanContext
        from .plan import Plan
        from .spec import Spec, decode, load_config, unknown_fields

    runtime_config, loaded = load_runtime(req.config_file, req.root)
    path = os.path.join(req.bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw_bytes = f.read()
    except FileNotFoundError:
        raise SpecError("--bundle", f"{path}: no such file (is {req.bundle} an OCI bundle?)") \
            from None
    except OSError as exc:
        raise SpecError("--bundle", f"cannot read {path}: {exc.strerror}") from None
    with span("load config.json"):
        raw = decode(raw_bytes, "config.json")
        spec = load_config(raw)
    if req.tty and spec.process is not None:   # run -t: a terminal whatever config.json says
        spec.process.terminal = True
        raw["process"]["terminal"] = True
    for extra in unknown_fields(spec):
        log.info(f"{extra}: unknown property ignored (runtime-spec: MUST ignore)")
    with span("claims"):
        claims.check(Spec, raw, loaded.claims)
    console = "socket" if req.console_socket else "foreground" if req.foreground else None
    host = HostInfo() if req.rootless is None else HostInfo(rootless=req.rootless)
    ctx = PlanContext(req.container_id, req.bundle, state_dir, host,
                      options=loaded.options(), backends=chosen_backends(runtime_config, loaded),
                      no_pivot=req.no_pivot, no_new_keyring=req.no_new_keyring,
                      console=console)
    # Each plugin's hooks are called one by one (not through pluggy's broadcast) so that
    # errors and LIMPET_TRACE timings name the plugin.
    for name, plugin in loaded.loaded.items():
        if hasattr(plugin.module, "limpet_validate"):
            with span(f"hook limpet_validate [{name}]"):
                plugin.module.limpet_validate(spec=spec, ctx=ctx)
    plan = Plan(handlers=dict(loaded.handlers))
    run_plan_hooks(loaded, "limpet_plan", spec, plan, ctx)
    if req.listen_fds:   # socket activation (sd_listen_fds): fds 3.. go to the process
        plan.process["env"] = [*plan.process.get("env", []),
                               f"LISTEN_FDS={req.listen_fds}", "LISTEN_PID=1"]
    plan.process.setdefault("preserveFds", req.listen_fds + req.preserve_fds)
    check_handlers(plan)
    unknown = sorted(plan.lifecycle - set(_lifecycle_hooks()))
    if unknown:
        raise ExecutionError(None, f"plan.lifecycle: unknown lifecycle hook(s) "
                             f"{', '.join(unknown)}; known: {', '.join(_lifecycle_hooks())}")
    return spec, raw, plan, loaded


#: The container's config.json as created, in its state directory (for ``exec``).
CONFIG_COPY = "config.json"


def create(req: CreateRequest, init_pid: int, sock: socket) -> dict[str, Any]:
    """Create the container; the init (``init_pid``) is already forked and waiting."""
    store = Store(req.root)
    state_dir = os.path.join(req.root, req.container_id)
    pctx = ParentContext(req.container_id, req.bundle, state_dir, init_pid)
    made_dir = False
    handlers: dict[str, str] = {}
    try:
        if store.exists(req.container_id):
            raise ContainerError(None, f"container with id {req.container_id} already exists")
        spec, raw, plan, loaded = compile_bundle(req, state_dir)
        handlers = plan.handlers
        pctx.annotations = dict(spec.annotations or {})
        store.make_dir(req.container_id)
        made_dir = True
        # exec plans from the config the container was created with (runc keeps it too)
        with open(os.open(os.path.join(state_dir, CONFIG_COPY),
                          os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "w") as f:
            f.write(jsonlite.dumps(raw, compact=True))
        fifo = os.path.join(state_dir, "exec.fifo")
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)   # not the umask's: a mapped or non-root init must write it
        state: dict[str, Any] = {
            "ociVersion": OCI_VERSION, "id": req.container_id, "bundle": req.bundle,
            "status": "creating", "pid": None, "annotations": pctx.annotations,
            "creatorPid": os.getpid(), "creatorStartTime": proc_start_time(os.getpid()),
            "rootfs": plan.process.get("rootfs", ""),
            "created": _now(), "owner": "",
            "hooks": sorted(plan.lifecycle),   # what limpet_plan asked for (plan.lifecycle)
            "runtimeConfig": loaded.config_file,
        }
        store.write(req.container_id, state)
        sync.send(sock, {"plan": plan.to_json(), "rootfs": plan.process.get("rootfs", ""),
                         "bundle": req.bundle, "state_dir": state_dir})
        run_prepare(sock, pctx, plan)
        drive_init(sock, pctx, plan, req)
        pid = pctx.pid or init_pid
        state.update(status="created", pid=pid, initStartTime=proc_start_time(pid),
                     teardown=pctx.teardown, facts=pctx.facts,
                     handlers={op["kind"]: handlers[op["kind"]] for op in pctx.teardown})
        store.write(req.container_id, state)
        if req.pid_file:
            from .spawn import write_pid_file

            write_pid_file(req.pid_file, pid)
        if "limpet_created" in state["hooks"]:
            from .context import LifecycleContext

            loaded.hook.limpet_created(ctx=LifecycleContext(
                req.container_id, req.bundle, state_dir, pid, state))
        return state
    except BaseException as exc:
        notes = _rollback(pctx, handlers, made_dir, state_dir)
        for note in notes:
            exc.add_note(note)
        raise
    finally:
        sock.close()


def run_prepare(sock: socket, pctx: ParentContext, plan: Any) -> None:
    """Run the ``prepare`` phase (cgroups, the seccomp cache, ...) while the init, which
    has the plan already, imports its op handlers; it starts its own phases at the ack.
    Moving the init into its cgroups alone can wait ~10 ms for the kernel (an RCU grace
    period on the first cgroup.procs write), so the overlap is worth it."""
    with span("phase prepare [parent]"):
        run_parent_ops(pctx, plan.ops("prepare"), plan.handlers)
    try:
        sync.send(sock, {"ack": "prepare"})
    except OSError:
        pass   # the init failed meanwhile: drive_init reads its error


def drive_init(sock: socket, pctx: ParentContext, plan: Any,
               req: ConsoleRequest) -> None:
    """Serve the init over the sync socket until it is ready: run the parent phases it
    asks for, log what it says, take its pty master and its container process's pid."""
    from .plan import PHASE_SIDE

    handlers = plan.handlers
    while True:
        message = sync.recv(sock)
        if message is None:
            _, status = os.waitpid(pctx.init_pid, 0) if not pctx.init_reaped else (0, 0)
            pctx.init_reaped = True
            raise ExecutionError(None, "the container's init exited before it was ready"
                                 f" (wait status {status})")
        if "error" in message:
            raise from_wire(message["error"])
        if "log" in message:
            log.log(message.get("level", "warning"), message["log"])
        elif "terminal" in message:
            _take_console(req, message.get("fds") or [])
        elif "pid" in message:
            pctx.pid = int(message["pid"])
            os.waitpid(pctx.init_pid, 0)
            pctx.init_reaped = True
        elif "sync" in message:
            phase = message["sync"]
            if PHASE_SIDE.get(phase) != "parent":
                raise ExecutionError(None, f"init asked for unknown parent phase {phase!r}")
            with span(f"phase {phase} [parent]"):
                run_parent_ops(pctx, plan.ops(phase), handlers)
            sync.send(sock, {"ack": phase})
        elif "call" in message:   # InitContext.call_parent: one op, with its fds
            reply = _run_call(pctx, message, handlers)
            try:
                sync.send(sock, {"ack": message["call"]}, fds=reply)
            finally:
                for fd in reply:
                    os.close(fd)
        elif message.get("ready"):
            return


def _run_call(pctx: ParentContext, message: dict[str, Any],
              handlers: dict[str, str]) -> list[int]:
    """Run the parent handler a container op asked for; the fds it sent are closed after.
    Returns the fds the handler appended to ``args["reply_fds"]``, for the ack."""
    fds = message.get("fds") or []
    reply: list[int] = []
    try:
        kind = message["call"]
        if kind not in handlers:
            raise ExecutionError(None, f"init asked for unknown op kind {kind!r}")
        args = dict(message.get("args") or {}, fds=fds, reply_fds=reply)
        run_parent_ops(pctx, [{"kind": kind, "args": args, "where": args.get("where")}],
                       handlers)
    except BaseException:
        for fd in reply:
            os.close(fd)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return reply


def _take_console(req: ConsoleRequest, fds: list[int]) -> None:
    """The init made a pty: hand the master to --console-socket, or keep it for ``run``."""
    if len(fds) != 1:
        raise ExecutionError("process.terminal", "the init sent no pty master")
    master = fds[0]
    if not req.console_socket:
        req.console_fd = master
        return
    try:   # with sync's _socket helpers: socket's enums cost ~5 ms
        conn = sync.connect_unix(req.console_socket)
        try:
            sync.send_fds(conn, b"/dev/ptmx", [master])
        finally:
            conn.close()
    except OSError as exc:
        raise os_error("--console-socket", f"sending the pty master to "
                       f"{req.console_socket}", exc) from None
    finally:
        os.close(master)


def _rollback(pctx: ParentContext, handlers: dict[str, str], made_dir: bool,
              state_dir: str) -> list[str]:
    notes: list[str] = []
    kill_and_reap(pctx.pid, reap=False)
    if not pctx.init_reaped:
        kill_and_reap(pctx.init_pid, reap=True)
    notes += run_teardown(pctx.teardown, handlers, pctx)
    for undo in reversed(pctx.undo):
        try:
            undo()
        except Exception as exc:
            notes.append(f"cleanup: {exc}")
    if made_dir:
        remove_tree(state_dir)
    return notes


def _lifecycle_hooks() -> tuple[str, ...]:
    from .hookspecs import LIFECYCLE_HOOKS

    return LIFECYCLE_HOOKS


def _now() -> str:
    import time

    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"
