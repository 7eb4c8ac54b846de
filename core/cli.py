"""The runc-compatible command line (engines.md lists what engines call).

Parsing uses argparse only; each verb imports what it needs when it runs, so that start,
state, kill and delete stay lean, and ``create``/``run`` fork the init before the heavy
imports (pydantic, pluggy) happen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import LimpetError, UsageError
from .log import configure, log

DEFAULT_ROOT = "/run/limpet"


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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="limpet", description="An OCI container runtime (runc-compatible CLI).")
    p.add_argument("--root", default=None, help=f"state directory (default {DEFAULT_ROOT})")
    p.add_argument("--log", default=None, help="log file (default stderr)")
    p.add_argument("--log-format", choices=("text", "json"), default=None)
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="use the systemd cgroup driver (not available: no systemd here)")
    p.add_argument("--config", default=None,
                   help="runtime config file (default $LIMPET_CONFIG or /etc/limpet/config.yaml)")
    p.add_argument("--rootless", default=None, help="ignored (runc compatibility)")
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
        v.add_argument("container_id", metavar="ID")
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
    return p


def _root(args: argparse.Namespace) -> str:
    return os.path.abspath(args.root or DEFAULT_ROOT)


def _store(args: argparse.Namespace) -> Any:
    from .state import Store

    return Store(_root(args))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def cmd_create(args: argparse.Namespace, detach: bool = True, start: bool = False) -> int:
    from .create import CreateRequest, create, spawn_init
    from .state import check_id

    check_id(args.container_id)
    if args.systemd_cgroup:
        raise UsageError("--systemd-cgroup", "the systemd cgroup driver is not available: "
                         "limpet has no systemd backend and this host runs no systemd")
    console_socket = os.path.abspath(args.console_socket) if args.console_socket else None
    pid, sock = spawn_init(subreaper=not detach)
    req = CreateRequest(args.container_id, os.path.abspath(args.bundle), _root(args),
                        pid_file=args.pid_file, console_socket=console_socket,
                        no_pivot=args.no_pivot, preserve_fds=args.preserve_fds,
                        config_file=args.config, foreground=not detach)
    state = create(req, pid, sock)
    if detach:
        if start:
            from . import lifecycle

            lifecycle.start(_store(args), args.container_id)
        return 0
    return _run_foreground(args, state["pid"], req.console_fd)


def _run_foreground(args: argparse.Namespace, pid: int, console_fd: int | None) -> int:
    import signal

    from . import lifecycle

    store = _store(args)
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
            lifecycle.start(store, args.container_id)
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
            proxy(console_fd)
        else:
            lifecycle.start(store, args.container_id)
        code = lifecycle.wait_exit(pid)
    finally:
        for signum in forwarded:
            signal.signal(signum, signal.SIG_DFL)
        if not getattr(args, "keep", False):
            lifecycle.delete(store, args.container_id, force=True)
    return code


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
    from .default_spec import default_spec

    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise UsageError("--bundle", f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=args.rootless), f, indent="\t")
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
                        config_file=args.config, foreground=True)
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "plan": cmd_plan, "check": cmd_check, "plugins": cmd_plugins,
    "config": cmd_config,
}


def _report(exc: LimpetError, verb: str | None) -> None:
    text = str(exc)
    if verb in ("create", "run") and exc.kind == "error":
        from .errors import ProgramNotFound

        if isinstance(exc, ProgramNotFound):
            text = f"unable to start container process: {exc.message}"
    log.error(text)
    if exc.hint and log.fmt == "text":
        log.log("error", f"hint: {exc.hint}")
    if log.path:  # engines read the log file; a person reads stderr
        print(f"limpet: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb: str | None = None
    try:
        args = _parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
