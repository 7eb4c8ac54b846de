"""``exec``: run another process in a running container (runc's ``exec``).

The same machinery as ``create``: an init forked early and non-dumpable at once, a plan of
phases executed by it, the parent phases served over the sync socket. The plan comes from
the plugins' ``limpet_plan_exec`` hooks: join the container's cgroups (``join-cgroups``,
before any namespace), its namespaces (the user namespace first; the pid namespace takes
effect at the fork), then the process's attributes and the container's seccomp filter.
There is no exec.fifo: the program runs as soon as it is resolved and the runtime has its
pid. Without ``--detach`` the runtime is its subreaper and exits with its status; with it,
the process is left to the caller's subreaper and its pid written to ``--pid-file``.
"""

from __future__ import annotations

import os

from . import jsonlite
from .errors import LimpetError, SpecError, UsageError
from .record import Record, field
from .trace import span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any


class ExecRequest(Record):
    container_id: str
    root: str
    args: list[str] = field(default_factory=list)   # the command line's ARGS
    process_file: str | None = None                 # --process
    detach: bool = False
    pid_file: str | None = None
    tty: bool = False
    console_socket: str | None = None
    cwd: str | None = None
    env: list[str] = field(default_factory=list)
    user: str | None = None
    additional_gids: list[str] = field(default_factory=list)
    caps: list[str] = field(default_factory=list)
    no_new_privs: bool = False
    apparmor: str | None = None
    process_label: str | None = None
    preserve_fds: int = 0
    ignore_paused: bool = False
    config_file: str | None = None
    console_fd: int | None = None      # the pty master, when exec proxies the terminal


def _read_json(path: str, where: str) -> Any:
    try:
        with open(path, "rb") as f:
            return jsonlite.loads(f.read())
    except FileNotFoundError:
        raise UsageError(where, f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(where, f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(where, f"{path}: invalid JSON: {exc}") from None


def _parse_ids(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(flag, f"{text!r} is not a numeric id") from None
    if not 0 <= value < 2**32:
        raise UsageError(flag, f"{value} is out of range")
    return value


def build_process(req: ExecRequest, container_process: dict[str, Any]) -> dict[str, Any]:
    """The process to execute: ``--process``, or the container's process with the command
    line's ARGS and flags (as runc's ``getProcess``). Raw JSON, checked later."""
    if req.process_file:
        process = _read_json(req.process_file, "--process")
        if not isinstance(process, dict):
            raise UsageError("--process", f"{req.process_file}: expected a JSON object "
                             "(a runtime-spec process)")
        return process
    if not req.args:
        raise UsageError("ARGS", "exec needs a command to run (or --process FILE)")
    process = jsonlite.loads(jsonlite.dumps(container_process))   # a deep copy, without copy
    process["args"] = list(req.args)
    process["terminal"] = req.tty
    process.pop("consoleSize", None)
    if req.cwd:
        process["cwd"] = req.cwd
    process["env"] = [*process.get("env", []), *req.env]
    if req.apparmor:
        process["apparmorProfile"] = req.apparmor
    if req.process_label:
        process["selinuxLabel"] = req.process_label
    if req.caps:
        caps = process.setdefault("capabilities", {})
        for cap_set in ("bounding", "effective", "permitted"):
            caps[cap_set] = [*caps.get(cap_set, []), *req.caps]
    if req.no_new_privs:
        process["noNewPrivileges"] = True
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    if req.user:
        uid, _, gid = req.user.partition(":")
        user["uid"] = _parse_ids("--user", uid)
        user["gid"] = _parse_ids("--user", gid) if gid else 0
    if req.additional_gids:
        user["additionalGids"] = [*user.get("additionalGids", []),
                                  *(_parse_ids("--additional-gids", g) for g in
                                    req.additional_gids)]
    return process


def compile_exec(req: ExecRequest, data: dict[str, Any]) -> Any:
    """Load config.yaml, the plugins, the container's config.json and the process; check
    and plan. Returns the plan (nothing on the host has changed)."""
    with span("import the spec models and the planner"):
        from . import claims
        from .context import ExecContext, HostInfo
        from .create import (
            CONFIG_COPY,
            check_handlers,
            chosen_backends,
            load_runtime,
            run_plan_hooks,
        )
        from .plan import Plan
        from .spec import Spec, load_config

    # the config.yaml the container was created with, unless --config says otherwise
    runtime_config, loaded = load_runtime(req.config_file or data.get("runtimeConfig"),
                                          req.root)
    bundle = data["bundle"]
    # the config the container was created with (create keeps a copy), not the bundle's now
    kept = os.path.join(req.root, req.container_id, CONFIG_COPY)
    if os.path.exists(kept):
        raw = _read_json(kept, "config.json")
    else:   # a container created before create kept the copy
        raw = _read_json(os.path.join(bundle, "config.json"), "--bundle")
    if not isinstance(raw, dict):
        raise SpecError("config.json", "expected a JSON object")
    process = build_process(req, raw.get("process") or {})
    raw["process"] = process
    origin = "--process" if req.process_file else "config.json"
    with span("load config.json and the process"):
        spec = load_config(raw, origin=origin)
        claims.check(Spec, {"process": process}, loaded.claims)
    if process.get("terminal") and not req.console_socket and req.detach:
        raise SpecError("process.terminal", "cannot allocate a pseudo-terminal without "
                        "--console-socket when exec is detached (as runc)")
    console = "socket" if req.console_socket else None if req.detach else "foreground"
    ctx = ExecContext(req.container_id, bundle, os.path.join(req.root, req.container_id),
                      HostInfo(), options=loaded.options(),
                      backends=chosen_backends(runtime_config, loaded),
                      console=console, pid=int(data["pid"]), state=data)
    plan = Plan(handlers=dict(loaded.handlers))
    run_plan_hooks(loaded, "limpet_plan_exec", spec, plan, ctx)
    plan.process.setdefault("preserveFds", req.preserve_fds)
    check_handlers(plan)
    return plan


def exec_process(req: ExecRequest, init_pid: int, sock: socket,
                 data: dict[str, Any]) -> int:
    """Execute the process; the init (``init_pid``) is already forked and waiting.
    Returns the process's host pid once it runs."""
    from . import sync
    from .create import drive_init, kill_and_reap, run_prepare
    from .parent import ParentContext

    state_dir = os.path.join(req.root, req.container_id)
    pctx = ParentContext(req.container_id, data["bundle"], state_dir, init_pid)
    try:
        plan = compile_exec(req, data)
        sync.send(sock, {"plan": plan.to_json(), "rootfs": data.get("rootfs", ""),
                         "bundle": data["bundle"], "state_dir": state_dir, "exec": True})
        run_prepare(sock, pctx, plan)
        drive_init(sock, pctx, plan, req)
        if pctx.pid is None:
            raise LimpetError(None, "the exec init reported no process")
        return pctx.pid
    except BaseException:
        if req.console_fd is not None:
            os.close(req.console_fd)
            req.console_fd = None
        kill_and_reap(pctx.pid, reap=not req.detach)   # we are its subreaper unless -d
        if not pctx.init_reaped:
            kill_and_reap(init_pid, reap=True)
        raise
    finally:
        sock.close()
