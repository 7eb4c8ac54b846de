"""The container's init: a lean, forked process that executes the child side of a plan.

Process model (architecture.md section 3, after runc's nsexec):

1. The runtime forks this init early, before it imports pydantic, rich or pluggy, and sends
   it the plan over the sync socket. The init goes non-dumpable at once, and keeps the
   kernel's cgroup attach lock warm until the plan comes (:mod:`.cgroupwarm`).
2. ``init`` phases run here: join or create the user namespace (the runtime writes the id
   maps while the init waits), then every other namespace.
3. The init forks: the child is the container process, PID 1 of a new pid namespace; the
   first init reports its pid and exits, so the container process is left to the caller's
   subreaper.
4. ``container`` phases run in the container process; parent phases are a round trip on the
   sync socket. After ``credentials`` the program is resolved, the runtime is told "ready",
   and the process blocks on the exec FIFO until ``start``; then the remaining phases run and
   the user program is executed. Python is never executed again inside the container.

Standard library and lean limpet.core modules only: nothing here may import pydantic, rich,
pluggy or ruamel.
"""

from __future__ import annotations

import _signal  # signal without its enums (~5 ms and memory in every waiting init)
import os
import stat
import sys
import time

from . import jsonlite, sync
from .cgroupwarm import keep_warm
from .entrypoints import resolve
from .errors import ExecutionError, LimpetError, ProgramNotFound, os_error
from .fds import cloexec_above
from .idmaps import in_user_namespace
from .plan import RESOLVE_BEFORE, WAIT_BEFORE, phases_from_json
from .syscalls import Syscalls, const
from .trace import ENABLED as TRACE  # LIMPET_TRACE=1: each phase on the init's side
from .trace import emit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable
    from typing import Any, NoReturn

    Handler = Callable[["InitContext", dict[str, Any]], None]


class InitContext:
    """What container-side op handlers get: the syscall seam and the container's facts."""

    def __init__(self, message: dict[str, Any], sock: socket,
                 syscalls: Syscalls | None = None) -> None:
        self.sys = syscalls or Syscalls()
        self.sock = sock
        self.rootfs: str = message["rootfs"]
        self.bundle: str = message["bundle"]
        self.state_dir: str = message["state_dir"]
        self.process: dict[str, Any] = message["plan"].get("process", {})
        #: ``limpet exec``: no exec.fifo; the program runs as soon as the runtime has its pid
        self.exec_mode = bool(message.get("exec"))
        self.in_container = False       # after the pid-namespace fork
        self.host_pid = 0               # the container process's pid on the host
        self.pivoted = False            # after pivot_root: "/" is the container's root
        #: whether the container's processes are in a user namespace other than the host's,
        #: which restricts mknod etc.: the runtime's own (a rootless engine's), or one the
        #: namespaces plugin's ops join or create (they set it)
        self.new_user_namespace = in_user_namespace()
        self.state_dir_fd = -1
        #: exec.fifo's write end after ``start`` opened it: open until execve closes it
        #: (close-on-exec); an error of a later phase is written to it for ``start``
        self.exec_fifo_fd = -1

    def warn(self, where: str | None, message: str, level: str = "warning") -> None:
        """Have the runtime log a message (the sync socket is open until "ready")."""
        text = f"{where}: {message}" if where else message
        sync.send(self.sock, {"log": text, "level": level})

    def root_path(self, path: str) -> str:
        """A container path as seen from here (before or after pivot_root)."""
        return path if self.pivoted else os.path.join(self.rootfs, path.lstrip("/"))

    def call_parent(self, kind: str, fds: list[int] | None = None, **args: Any) -> list[int]:
        """Have the runtime run its handler of op ``kind`` now, with ``args`` and ``fds``
        (``args["fds"]`` there, closed after it): for an op that makes a file descriptor
        the runtime must pass on, such as seccomp's notify fd, or that needs the host's
        privileges, such as an id-mapped mount. Returns the fds the handler appended to
        ``args["reply_fds"]`` (close-on-exec, now the caller's). Before "ready" only."""
        sync.send(self.sock, {"call": kind, "args": args}, fds=fds)
        reply = sync.recv(self.sock)
        if reply is None or "ack" not in reply:
            os._exit(1)   # the runtime failed (and reports it) or went away
        received: list[int] = reply.get("fds", [])
        return received


def load_handlers(plan: dict[str, Any]) -> dict[str, Handler]:
    """Import the handlers of the op kinds that the init and container phases of ``plan``
    use (the runtime runs the parent phases' handlers itself)."""
    used = {op["kind"] for _, side, ops in phases_from_json(plan) if side != "parent"
            for op in ops}
    table = {kind: target for kind, target in plan["handlers"].items() if kind in used}
    handlers: dict[str, Handler] = {}
    for kind, target in table.items():
        try:
            handlers[kind] = resolve(target)
        except (ImportError, AttributeError) as exc:
            raise ExecutionError(f"op {kind}", f"handler {target} cannot be loaded: {exc}") \
                from None
    return handlers


def run_op(handler: Handler, ctx: InitContext, op: dict[str, Any]) -> None:
    args = op.get("args", {})
    args.setdefault("where", op.get("where"))
    try:
        handler(ctx, args)
    except LimpetError as exc:
        if exc.where is None:
            exc.where = op.get("where")
        raise
    except OSError as exc:
        raise os_error(op.get("where"), op["kind"], exc) from None


def _sync_parent(ctx: InitContext, phase: str) -> None:
    sync.send(ctx.sock, {"sync": phase})
    _await_ack(ctx)


def _await_ack(ctx: InitContext) -> None:
    reply = sync.recv(ctx.sock)
    if reply is None or "ack" not in reply:
        # The runtime failed (and reports it) or went away: stop here.
        os._exit(1)


def _fork_container_process(ctx: InitContext) -> None:
    """Fork the container process (PID 1 of a new pid namespace) and exit the first init."""
    gate_r, gate_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(gate_w)
        # Wait until the runtime knows our pid; learn it too (getpid() says 1 in a new pid
        # namespace, but the container state and the hooks need the host's view).
        ctx.host_pid = int(os.read(gate_r, 32) or 0)
        os.close(gate_r)
        ctx.in_container = True
        return
    os.close(gate_r)
    sync.send(ctx.sock, {"pid": pid})
    os.write(gate_w, str(pid).encode())
    os.close(gate_w)
    os._exit(0)


def find_program(args: list[str], env: list[str]) -> str:
    """Resolve argv[0] like runc (Go's exec.LookPath); errors use runc's words."""
    if not args:
        raise ProgramNotFound("process.args", "args must not be empty")
    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        path_var = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), "")
        candidates = [os.path.join(d or ".", name) for d in path_var.split(":")]
    denied = False
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError as exc:
            if "/" in name:
                raise ProgramNotFound("process.args[0]", f'exec: "{name}": stat {name}: '
                                      f"{os.strerror(exc.errno or 2).lower()}") from None
            continue
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            denied = True
            continue
        if not os.access(candidate, os.X_OK):
            denied = True
            continue
        return candidate
    if denied:
        raise ProgramNotFound("process.args[0]", f'exec: "{name}": permission denied')
    raise ProgramNotFound("process.args[0]",
                          f'exec: "{name}": executable file not found in $PATH')


def _wait_for_start(ctx: InitContext) -> None:
    """Tell the runtime we are ready, then block on the exec FIFO until ``start``
    (``exec``: go on at once)."""
    if ctx.exec_mode:
        sync.send(ctx.sock, {"ready": True})
        ctx.sock.close()
        return
    if not os.access("exec.fifo", os.W_OK, dir_fd=ctx.state_dir_fd, effective_ids=True):
        raise ExecutionError(None, f"the init (uid {os.geteuid()}) cannot write "
                             f"{ctx.state_dir}/exec.fifo; is the state root reachable?")
    sync.send(ctx.sock, {"ready": True})
    ctx.sock.close()
    fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=ctx.state_dir_fd)
    os.write(fd, b"0")
    # Kept open: ``start`` reads on until execve closes it, so that it returns once the
    # program runs and can report an error of the phases after it (start-container).
    ctx.exec_fifo_fd = fd
    os.close(ctx.state_dir_fd)


def execute(ctx: InitContext, plan: dict[str, Any], handlers: dict[str, Handler]) -> NoReturn:
    """Run the init and container phases of ``plan``, then exec the user program."""
    program = ""
    for phase, side, ops in phases_from_json(plan):
        if phase in (RESOLVE_BEFORE, WAIT_BEFORE) and not program:
            program = find_program(ctx.process.get("args", []), ctx.process.get("env", []))
        if phase == WAIT_BEFORE:
            _wait_for_start(ctx)
        if side == "parent":
            if ops and phase != "prepare":   # the runtime runs "prepare" unasked (main)
                _sync_parent(ctx, phase)
            continue
        if side == "container" and not ctx.in_container:
            _fork_container_process(ctx)
        started = time.perf_counter() if TRACE and ops else 0.0
        for op in ops:
            run_op(handlers[op["kind"]], ctx, op)
        if started:   # LIMPET_TRACE=1 (the init's stderr is the runtime's, until execve)
            emit(f"phase {phase} [{side}]", started)
    if not program:
        program = find_program(ctx.process.get("args", []), ctx.process.get("env", []))
        _wait_for_start(ctx)
    cloexec_above(2 + int(ctx.process.get("preserveFds", 0)))
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in ctx.process.get("env", []))
    try:
        os.execve(program, ctx.process["args"], env)
    except OSError as exc:
        # Nobody waits on the sync socket any more: tell the container's stderr and start.
        _report_after_start(ctx, ExecutionError("process.args[0]",
                                                f"exec {program}: {exc.strerror}",
                                                errno=exc.errno))
        os._exit(127 if exc.errno == 2 else 126)


def main(sock: socket) -> NoReturn:
    """Entry point of the forked init. Never returns."""
    code = 1
    ctx: InitContext | None = None
    try:
        _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
        syscalls = Syscalls()
        syscalls.prctl(const("PR_SET_DUMPABLE"), 0)
        started = time.perf_counter()
        taken = keep_warm(sock.fileno())   # while the runtime plans: see cgroupwarm
        if TRACE:
            emit(f"cgroup attach lock taken {taken} times [init]", started)
        message = sync.recv(sock)
        if message is None:
            os._exit(0)   # the runtime gave up before sending a plan
        ctx = InitContext(message, sock, syscalls)
        if not ctx.exec_mode:
            ctx.state_dir_fd = os.open(ctx.state_dir,
                                       os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        started = time.perf_counter()
        handlers = load_handlers(message["plan"])
        cache = sys.modules.get("limpet.core.codecache")   # when the launcher installed it
        if cache is not None:
            cache.close()
        if TRACE:
            emit("import op handlers [init]", started)
        _await_ack(ctx)   # the runtime ran "prepare" meanwhile (create.run_prepare)
        execute(ctx, message["plan"], handlers)
    except LimpetError as exc:
        _report(sock, exc, ctx)
    except OSError as exc:
        _report(sock, os_error(None, "init", exc), ctx)
    except BaseException as exc:  # never let a traceback escape into the container
        _report(sock, ExecutionError(None, f"init failed: {type(exc).__name__}: {exc}"), ctx)
    os._exit(code)


def _report_after_start(ctx: InitContext, exc: LimpetError) -> None:
    """After ``start`` released us the socket is closed: the error goes to the container's
    stderr and to ``start``, which reads exec.fifo until it closes."""
    print(f"limpet: {exc}", file=sys.stderr, flush=True)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)   # start may be gone: EPIPE, not death
    try:
        os.write(ctx.exec_fifo_fd, jsonlite.dumps(exc.to_wire()).encode())
    except OSError:
        pass


def _report(sock: socket, exc: LimpetError, ctx: InitContext | None = None) -> None:
    if ctx is not None and ctx.exec_fifo_fd >= 0:
        _report_after_start(ctx, exc)
        return
    try:
        sync.send(sock, {"error": exc.to_wire()})
    except OSError:
        print(f"limpet init: {exc}", file=sys.stderr)
