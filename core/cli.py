"""The runc-compatible command line (engines.md lists what engines call).

The lines engines send are read by :mod:`.argv` (argparse costs ~15 ms); anything else by
argparse. Each verb imports what it needs when it runs, so that start, state, kill and
delete stay lean, and ``create``/``run`` fork the init before the heavy
imports (pydantic, pluggy) happen.
"""

from __future__ import annotations

import os
import sys

from . import jsonlite as json
from .errors import LimpetError, UsageError
from .log import configure, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

DEFAULT_ROOT = "/run/limpet"


def _parser() -> argparse.ArgumentParser:
    """The full parser: help, usage and errors (:mod:`.argv` reads the common lines)."""
    import argparse

    class _Formatter(argparse.HelpFormatter):
        """argparse asks shutil for the terminal width, and shutil imports bz2 and lzma: that
        would be ballast in every forked init. $COLUMNS or 100 will do."""

        def __init__(self, prog: str, **kwargs: Any) -> None:
            kwargs.setdefault("width", int(os.environ.get("COLUMNS", "100")))
            super().__init__(prog, **kwargs)

    class _Parser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("formatter_class", _Formatter)
            super().__init__(*args, **kwargs)

        def error(self, message: str) -> Any:  # argparse exits 2 with usage; keep runc's shape
            raise UsageError(None if self.prog == "limpet" else self.prog, message)

    p = _Parser(prog="limpet", description="An OCI container runtime (runc-compatible CLI).")
    p.add_argument("--root", default=None, help=f"state directory (default {DEFAULT_ROOT}; "
                   "$XDG_RUNTIME_DIR/limpet for other users)")
    p.add_argument("--log", default=None, help="log file (default stderr)")
    p.add_argument("--log-format", choices=("text", "json"), default=None)
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="use the systemd cgroup driver (not available: no systemd here)")
    p.add_argument("--config", default=None,
                   help="runtime config file (default $LIMPET_CONFIG or /etc/limpet/config.yaml)")
    p.add_argument("--rootless", default=None,
                   help="true, false or auto (default: rootless when not root or in a user "
                        "namespace): a rootless container gets no cgroup unless it sets limits")
    p.add_argument("--criu", default=None, help="ignored (runc compatibility)")
    p.add_argument("-v", "--version", action="store_true")
    verbs = p.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, help=help_text, description=help_text)

    for name in ("create", "run"):
        v = verb(name, "create a container" if name == "create"
                 else "create and start a container, and wait for it (unless -d)")
        v.add_argument("-b", "--bundle", default=".", help="bundle directory (default .)")
        v.add_argument("--pid-file", default=None)
        v.add_argument("--console-socket", default=None)
        v.add_argument("--no-pivot", action="store_true")
        v.add_argument("--no-new-keyring", action="store_true")
        v.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            v.add_argument("-d", "--detach", action="store_true")
            v.add_argument("--keep", action="store_true", help="do not delete on exit")
            v.add_argument("-t", "--tty", action="store_true",
                           help="give the process a terminal (process.terminal: true)")
        v.add_argument("container_id", metavar="ID")
    v = verb("exec", "execute a new process inside a running container")
    v.add_argument("-p", "--process", default=None, help="a process.json (runtime-spec "
                   "process); the flags below are then ignored")
    v.add_argument("-d", "--detach", action="store_true")
    v.add_argument("--pid-file", default=None)
    v.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    v.add_argument("--console-socket", default=None)
    v.add_argument("--cwd", default=None, help="working directory in the container")
    v.add_argument("-e", "--env", action="append", default=[], help="NAME=value (repeatable)")
    v.add_argument("-u", "--user", default=None, help="uid[:gid]")
    v.add_argument("-g", "--additional-gids", action="append", default=[])
    v.add_argument("-c", "--cap", action="append", default=[], help="add a capability")
    v.add_argument("--no-new-privs", action="store_true")
    v.add_argument("--apparmor", default=None)
    v.add_argument("--process-label", default=None)
    v.add_argument("--preserve-fds", type=int, default=0)
    v.add_argument("--ignore-paused", action="store_true")
    v.add_argument("container_id", metavar="ID")
    v.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    for name, text in (("start", "start a created container"),
                       ("state", "print the state of a container as JSON")):
        verb(name, text).add_argument("container_id", metavar="ID")
    v = verb("kill", "send a signal to the container's init (default SIGTERM)")
    v.add_argument("-a", "--all", action="store_true", help="signal every process")
    v.add_argument("container_id", metavar="ID")
    v.add_argument("signal", nargs="?", default="SIGTERM")
    v = verb("delete", "delete a container and everything it holds")
    v.add_argument("-f", "--force", action="store_true")
    v.add_argument("container_id", metavar="ID")
    for name, text in (("pause", "freeze every process of a container (cgroup freezer)"),
                       ("resume", "thaw a paused container")):
        verb(name, text).add_argument("container_id", metavar="ID")
    v = verb("ps", "list the processes in a container's cgroups")
    v.add_argument("-f", "--format", choices=("table", "json"), default="table")
    v.add_argument("container_id", metavar="ID")
    v.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS_OPTIONS",
                   help="options for ps(1) (default -ef)")
    v = verb("events", "print resource statistics and OOM events as JSON lines")
    v.add_argument("--stats", action="store_true", help="print the statistics once and exit")
    v.add_argument("--interval", default="5s", help="time between statistics (default 5s)")
    v.add_argument("container_id", metavar="ID")
    v = verb("update", "change the resource limits of a created or running container")
    v.add_argument("-r", "--resources", default=None,
                   help="a LinuxResources JSON file, or - for stdin")
    for flag, help_text in UPDATE_FLAGS.items():
        names = [flag, "--cpu-shares"] if flag == "--cpu-share" else [flag]
        v.add_argument(*names, dest=flag[2:].replace("-", "_"), default=None, help=help_text)
    v.add_argument("container_id", metavar="ID")
    v = verb("list", "list containers")
    v.add_argument("-f", "--format", choices=("table", "json"), default="table")
    v.add_argument("-q", "--quiet", action="store_true")
    v = verb("spec", "write a default config.json")
    v.add_argument("-b", "--bundle", default=".")
    v.add_argument("--rootless", action="store_true")
    verb("features", "print the features document (runtime-spec features.md)")
    for name, text in (("plan", "print the plan for a bundle without doing anything"),
                       ("check", "validate a bundle without running it")):
        v = verb(name, text)
        v.add_argument("bundle", nargs="?", default=".")
        v.add_argument("--format", choices=("text", "json"), default="text")
        v.add_argument("--id", default="limpet-check", help="container id to plan for")
    v = verb("config", "show, validate or change the runtime config file (config.yaml)")
    v.add_argument("action", choices=("show", "validate", "set", "path"))
    v.add_argument("key", nargs="?", help="for set: a dotted key, e.g. backends.cgroups")
    v.add_argument("value", nargs="?", help="for set: a YAML value, e.g. v2 or [devices]")
    v = verb("plugins", "list plugins: name, version, source, claims and hooks")
    v.add_argument("--format", choices=("table", "json"), default="table")
    v = verb("seccomp-agent", "answer seccomp notifications (linux.seccomp.listenerPath) "
             "per a YAML policy, logging each syscall as a JSON line; runs until SIGTERM")
    v.add_argument("--socket", required=True, help="unix socket to listen on (listenerPath)")
    v.add_argument("--policy", required=True, help="YAML policy file")
    v.add_argument("--output", default=None, help="append the JSON lines here (default stdout)")
    return p


#: runc's update flags: flag -> help. Each maps to one field of LinuxResources
#: (:data:`UPDATE_FIELDS`); sizes accept k, m, g, t suffixes (powers of 1024).
UPDATE_FLAGS = {
    "--blkio-weight": "block I/O weight, 10-1000",
    "--cpu-period": "CPU CFS period in microseconds",
    "--cpu-quota": "CPU CFS quota in microseconds (-1: none)",
    "--cpu-share": "CPU shares (relative weight); also --cpu-shares",
    "--cpu-rt-period": "realtime period in microseconds",
    "--cpu-rt-runtime": "realtime runtime in microseconds",
    "--cpu-idle": "1: SCHED_IDLE for the cgroup",
    "--cpuset-cpus": "CPUs allowed (0-3, 0,1)",
    "--cpuset-mems": "memory nodes allowed (0-3, 0,1)",
    "--memory": "memory limit in bytes (-1: unlimited)",
    "--memory-reservation": "memory soft limit in bytes",
    "--memory-swap": "memory+swap limit in bytes (-1: unlimited)",
    "--kernel-memory": "kernel memory limit in bytes (cgroup v1, kernels before 5.16)",
    "--kernel-memory-tcp": "kernel TCP buffer limit in bytes (cgroup v1)",
    "--pids-limit": "maximum number of processes (-1: unlimited)",
}
#: flag -> (section, field, kind): kind "int", "size" (with suffixes) or "str".
UPDATE_FIELDS: dict[str, tuple[str, str, str]] = {
    "--blkio-weight": ("blockIO", "weight", "int"),
    "--cpu-period": ("cpu", "period", "int"), "--cpu-quota": ("cpu", "quota", "int"),
    "--cpu-share": ("cpu", "shares", "int"), "--cpu-rt-period": ("cpu", "realtimePeriod", "int"),
    "--cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"), "--cpu-idle": ("cpu", "idle", "int"),
    "--cpuset-cpus": ("cpu", "cpus", "str"), "--cpuset-mems": ("cpu", "mems", "str"),
    "--memory": ("memory", "limit", "size"),
    "--memory-reservation": ("memory", "reservation", "size"),
    "--memory-swap": ("memory", "swap", "size"), "--kernel-memory": ("memory", "kernel", "size"),
    "--kernel-memory-tcp": ("memory", "kernelTCP", "size"),
    "--pids-limit": ("pids", "limit", "int"),
}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
               "p": 1 << 50}


def parse_size(flag: str, text: str) -> int:
    """``512m``, ``1g``, ``1048576``, ``-1`` (docker's RAMInBytes: powers of 1024)."""
    import re

    match = re.fullmatch(r"(-1|\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", text.strip().lower())
    if not match:
        raise UsageError(flag, f"invalid size {text!r} (e.g. 512m, 1g, 1048576, -1)")
    if match.group(1) == "-1":
        return -1
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_duration(flag: str, text: str) -> float:
    """A Go duration (``5s``, ``100ms``, ``1m30s``) in seconds."""
    import re

    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(flag, f"invalid duration {text!r} (e.g. 5s, 500ms, 1m)")
    seconds = sum(float(n) * units[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(flag, "the interval must be positive")
    return seconds


def update_request(args: argparse.Namespace) -> dict[str, Any]:
    """The LinuxResources of ``update``: --resources (file or stdin), then the flags."""
    request: dict[str, Any] = {}
    if args.resources:
        where = "--resources"
        try:
            if args.resources == "-":
                text = sys.stdin.read()
            else:
                with open(args.resources) as f:
                    text = f.read()
            request = json.loads(text)
        except OSError as exc:
            raise UsageError(where, f"cannot read {args.resources}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(where, f"invalid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise UsageError(where, "expected a JSON object (LinuxResources)")
    for flag, (section, name, kind) in UPDATE_FIELDS.items():
        text = getattr(args, flag[2:].replace("-", "_"))
        if text is None:
            continue
        if kind == "size":
            value: Any = parse_size(flag, text)
        elif kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise UsageError(flag, f"invalid number {text!r}") from None
        else:
            value = text
        section_value = request.setdefault(section, {})
        if not isinstance(section_value, dict):
            raise UsageError(flag, f"--resources has a {section} that is not an object")
        section_value[name] = value
    if not request:
        raise UsageError("update", "nothing to update: give --resources or a limit flag")
    return request


def _rootless(flag: str | None) -> bool | None:
    """``--rootless true|false|auto``: True, False, or None for auto (decided at create)."""
    if flag in (None, "auto"):
        return None
    if flag in ("true", "false"):
        return flag == "true"
    raise UsageError("--rootless", f"{flag!r}: expected true, false or auto")


def _default_root() -> str:
    """/run/limpet, or $XDG_RUNTIME_DIR/limpet when that is set and the caller is not the
    host's root: another user, or root of a user namespace (a rootless engine's) unless
    $USER says root. runc's rule (shouldHonorXDGRuntimeDir) for its own directory."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime_dir:
        return DEFAULT_ROOT
    if os.geteuid() != 0:
        return os.path.join(runtime_dir, "limpet")
    from .idmaps import in_user_namespace

    if in_user_namespace() and os.environ.get("USER") != "root":
        return os.path.join(runtime_dir, "limpet")
    return DEFAULT_ROOT


def _root(args: argparse.Namespace) -> str:
    root = os.path.abspath(args.root or _default_root())
    if os.path.lexists(root) and not os.path.isdir(root):
        raise UsageError("--root", f"{root} exists and is not a directory")
    return root


def _store(args: argparse.Namespace) -> Any:
    from .state import Store

    return Store(_root(args))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def cmd_create(args: argparse.Namespace, detach: bool = True, start: bool = False) -> int:
    from .spawn import listen_fds, spawn_init
    from .state import check_id

    check_id(args.container_id)
    if args.systemd_cgroup:
        raise UsageError("--systemd-cgroup", "the systemd cgroup driver is not available: "
                         "limpet has no systemd backend and this host runs no systemd")
    console_socket = os.path.abspath(args.console_socket) if args.console_socket else None
    root = _root(args)
    rootless = _rootless(args.rootless)
    pid, sock = spawn_init(subreaper=not detach)
    from .create import CreateRequest, create  # after the fork: the init never needs it

    req = CreateRequest(args.container_id, os.path.abspath(args.bundle), root,
                        pid_file=args.pid_file, console_socket=console_socket,
                        no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring,
                        preserve_fds=args.preserve_fds,
                        listen_fds=listen_fds(),
                        config_file=args.config, foreground=not detach,
                        tty=getattr(args, "tty", False), rootless=rootless)
    state = create(req, pid, sock)
    if detach:
        if start:
            from . import lifecycle

            lifecycle.start(_store(args), args.container_id)
        return 0
    return _run_foreground(args, state["pid"], req.console_fd)


def _foreground(pid: int, console_fd: int | None, release: Callable[[], None]) -> int:
    """Forward signals to ``pid``, ``release`` it, bridge the terminal, and return its
    exit status (we are its subreaper), as runc's foreground ``run`` and ``exec``."""
    import _signal as signal  # signal's enums cost ~5 ms (enum, functools, collections)

    from . import lifecycle

    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                 signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in forwarded:
        signal.signal(signum, forward)
    try:
        if console_fd is not None:
            from .terminal import copy_window_size, proxy

            if os.isatty(0):
                copy_window_size(0, console_fd)
            release()
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
            proxy(console_fd)
        else:
            release()
        return lifecycle.wait_exit(pid)
    finally:
        for signum in forwarded:
            signal.signal(signum, signal.SIG_DFL)


def _run_foreground(args: argparse.Namespace, pid: int, console_fd: int | None) -> int:
    from . import lifecycle

    store = _store(args)
    try:
        return _foreground(pid, console_fd,
                           lambda: lifecycle.start(store, args.container_id))
    finally:
        if not getattr(args, "keep", False):
            lifecycle.delete(store, args.container_id, force=True)


def cmd_exec(args: argparse.Namespace) -> int:
    from .lifecycle import exec_target
    from .spawn import spawn_init, write_pid_file

    if args.preserve_fds < 0:
        raise UsageError("--preserve-fds", "must not be negative")
    data = exec_target(_store(args), args.container_id, args.ignore_paused)
    init_pid, sock = spawn_init(subreaper=not args.detach)
    from .exec import ExecRequest, exec_process  # after the fork: the init never needs it

    req = ExecRequest(
        args.container_id, _root(args), args=list(args.command), process_file=args.process,
        detach=args.detach, pid_file=args.pid_file, tty=args.tty,
        console_socket=os.path.abspath(args.console_socket) if args.console_socket else None,
        cwd=args.cwd, env=args.env, user=args.user, additional_gids=args.additional_gids,
        caps=args.cap, no_new_privs=args.no_new_privs, apparmor=args.apparmor,
        process_label=args.process_label, preserve_fds=args.preserve_fds,
        ignore_paused=args.ignore_paused, config_file=args.config)
    pid = exec_process(req, init_pid, sock, data)
    if args.pid_file:
        write_pid_file(args.pid_file, pid)
    if args.detach:
        return 0
    return _foreground(pid, req.console_fd, lambda: None)


def cmd_run(args: argparse.Namespace) -> int:
    return cmd_create(args, detach=args.detach, start=True)


def cmd_start(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.start(_store(args), args.container_id)
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    from . import lifecycle

    _print_json(lifecycle.state(_store(args), args.container_id))
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.kill(_store(args), args.container_id, args.signal, args.all)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.delete(_store(args), args.container_id, args.force)
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.pause(_store(args), args.container_id)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.resume(_store(args), args.container_id)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from . import lifecycle

    lifecycle.update(_store(args), args.container_id, update_request(args))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from . import lifecycle

    pids = lifecycle.pids(_store(args), args.container_id)
    if args.format == "json":
        if args.ps_args:
            raise UsageError("ps", "ps options cannot be used with --format json")
        sys.stdout.write(json.dumps(pids, compact=True) + "\n")
        return 0
    import subprocess

    options = [a for a in args.ps_args if a != "--"] or ["-ef"]
    try:
        out = subprocess.run(["ps", *options], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise UsageError("ps", "ps(1) is not installed (use --format json)") from None
    except subprocess.CalledProcessError as exc:
        raise UsageError("ps", f"ps {' '.join(options)}: {exc.stderr.strip()}") from None
    lines = out.stdout.splitlines()
    header = lines[0].split() if lines else []
    if "PID" not in header:
        raise UsageError("ps", "the ps output has no PID column")
    column = header.index("PID")
    wanted = set(pids)
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from . import lifecycle

    store = _store(args)
    if args.stats:
        data = lifecycle.stats(store, args.container_id)
        sys.stdout.write(json.dumps({"type": "stats", "id": args.container_id,
                                     "data": data}, compact=True) + "\n")
        return 0
    interval = parse_duration("--interval", args.interval)

    def emit(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, compact=True) + "\n")
        sys.stdout.flush()

    lifecycle.events(store, args.container_id, interval, emit)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from . import lifecycle

    states = lifecycle.list_states(_store(args))
    if args.quiet:
        for s in states:
            print(s["id"])
        return 0
    if args.format == "json":
        sys.stdout.write(json.dumps(states) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("ID", "PID", "STATUS", "BUNDLE", box=None)
    for s in states:
        table.add_row(s["id"], str(s.get("pid", 0)), s["status"], s["bundle"])
    Console().print(table)
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    from . import config, plugins
    from .default_spec import default_spec

    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise UsageError("--bundle", f"File {path} exists. Remove it first")
    # The default seccomp profile only if some enabled plugin applies it (config.yaml).
    runtime_config, doc, config_path = config.load(args.config)
    seccomp = "linux.seccomp" in plugins.load(runtime_config, doc, config_path).claims
    import json as stdjson  # runc's layout: tab-indented

    with open(path, "w") as f:
        stdjson.dump(default_spec(rootless=args.rootless, seccomp=seccomp), f, indent="\t")
        f.write("\n")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from .features import features

    _print_json(features(args.config))
    return 0


def cmd_plan(args: argparse.Namespace, check_only: bool = False) -> int:
    from .create import CreateRequest, compile_bundle

    # Validated as `run` would take it (a terminal is bridged in the foreground).
    req = CreateRequest(args.id, os.path.abspath(args.bundle), _root(args),
                        config_file=args.config, foreground=True,
                        rootless=_rootless(args.rootless))
    _spec, _raw, plan, _loaded = compile_bundle(req, os.path.join(_root(args), args.id))
    if check_only:
        if args.format == "json":
            _print_json({"bundle": req.bundle, "valid": True})
        else:
            print(f"{req.bundle}: valid")
        return 0
    if args.format == "json":
        _print_json(plan.to_json())
        return 0
    from .render import print_plan

    print_plan(plan)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    return cmd_plan(args, check_only=True)


def cmd_plugins(args: argparse.Namespace) -> int:
    from . import config, plugins

    runtime_config, doc, path = config.load(args.config)
    loaded = plugins.load(runtime_config, doc, path)
    rows: list[dict[str, Any]] = [
        {"name": name, "version": p.info.version, "source": p.source,
         "entry_point": p.entry_point, "claims": list(p.info.claims), "hooks": p.hooks,
         "enabled": enabled}
        for enabled, group in ((True, loaded.loaded), (False, loaded.disabled))
        for name, p in group.items()]
    for name in sorted(set(loaded.available) - set(loaded.loaded) - set(loaded.disabled)):
        ep = loaded.available[name]
        source = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown"
        rows.append({"name": name, "version": "", "source": source, "entry_point": ep.value,
                     "claims": [], "hooks": [], "enabled": False})
    if args.format == "json":
        _print_json(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("NAME", "VERSION", "SOURCE", "CLAIMS", "HOOKS", title="limpet plugins")
    for r in rows:
        name = r["name"] if r["enabled"] else f"{r['name']} (disabled)"
        table.add_row(name, r["version"], r["source"], "\n".join(r["claims"]),
                      "\n".join(h.removeprefix("limpet_") for h in r["hooks"]))
    Console().print(table)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from . import config, plugins

    path = config.config_path(args.config)
    if args.action == "path":
        print(path)
        return 0
    if args.action == "set":
        if not args.key or args.value is None:
            raise UsageError("config set", "usage: limpet config set KEY VALUE")
        doc = config.set_value(path, args.key, args.value)
        plugins.load(config.validate_document(doc, path), doc, path)  # before writing
        config.write_document(path, doc)
        return 0
    doc = config.load_document(path)
    runtime_config = config.validate_document(doc, path)
    plugins.load(runtime_config, doc, path)
    if args.action == "validate":
        print(f"{path}: valid" if doc is not None else f"{path}: absent (defaults apply)")
        return 0
    if doc is not None:
        sys.stdout.write(config.dump_document(doc))
    else:
        _print_json(runtime_config.model_dump(by_alias=True))
    return 0


def cmd_seccomp_agent(args: argparse.Namespace) -> int:
    from limpet.plugins.seccomp.agent import run_agent

    return run_agent(args.socket, args.policy, args.output)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "create": cmd_create, "run": cmd_run, "exec": cmd_exec, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "plan": cmd_plan, "check": cmd_check, "plugins": cmd_plugins,
    "config": cmd_config, "seccomp-agent": cmd_seccomp_agent,
    "pause": cmd_pause, "resume": cmd_resume, "update": cmd_update, "ps": cmd_ps,
    "events": cmd_events,
}


def _report(exc: LimpetError, verb: str | None) -> None:
    text = str(exc)
    if verb in ("create", "run", "exec") and exc.kind == "error":
        from .errors import ProgramNotFound

        if isinstance(exc, ProgramNotFound):
            text = f"unable to start container process: {exc.message}"
            if verb == "exec":
                text = f"exec failed: {text}"
    log.error(text)
    if exc.hint and log.fmt == "text":
        log.log("error", f"hint: {exc.hint}")
    if log.path:  # engines read the log file; a person reads stderr
        print(f"limpet: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb: str | None = None
    # pydantic's plugin loader scans every installed distribution at the first model
    # (~15 ms of each create); the runtime uses no pydantic plugins, and validation is not
    # something a third-party package should hook into unannounced.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from .argv import parse

        args: Any = parse(argv) or _parser().parse_args(argv)
        verb = args.verb
        configure(args.log, args.log_format or "text", args.debug)
        if args.version:
            print("limpet version 0.1.0\nspec: 1.3.0")
            return 0
        if not verb:
            _parser().print_help()
            return 2
        return COMMANDS[verb](args)
    except LimpetError as exc:
        _report(exc, verb)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # e.g. `limpet list | head -1`
        return 141
    except OSError as exc:   # a host error outside any op: still one line, no traceback
        log.error(f"{verb}: {exc}" if verb else str(exc))
        return 1


def run() -> NoReturn:
    """The ``limpet`` command: :func:`main`, then exit at once, without the interpreter's
    module-by-module teardown (~2.5 ms of every verb, a seventh of ``state``). Nothing
    limpet leaves open needs it: files are closed where they are written, the log is
    flushed line by line, and there are no threads or atexit handlers."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:   # e.g. `limpet list | head -1`
        code = code or 141
    os._exit(code)


if __name__ == "__main__":
    run()
