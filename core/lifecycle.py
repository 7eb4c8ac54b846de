"""The verbs after ``create``: start, state, kill, delete, list (runtime.md#operations).

Lean on purpose: these run on every container and import only the standard library and
lean core modules. Plugins are loaded only when state.json records that one implements a
lifecycle hook or a teardown op needs a handler.
"""

from __future__ import annotations

import os
import select

from . import jsonlite as json
from .errors import ContainerError, StateTransitionError, UsageError, from_wire
from .log import log
from .state import Store, control_module, oci_state, remove_tree, status, wait_gone

SIGKILL = 9   # signal.SIGKILL: the signal module imports enum, ~5 ms on the lean verbs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Linux's generic signal numbers (asm-generic/signal.h: x86, arm, riscv, powerpc, s390),
#: so that a name needs no signal module. tests/unit/test_lifecycle_signals.py checks them.
SIGNALS = {f"SIG{name}": number for number, name in enumerate((
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"), start=1)}
SIGNALS.update(SIGIOT=6, SIGPOLL=29)
GENERIC_SIGNAL_ARCHES = frozenset({"x86_64", "i686", "i386", "aarch64", "armv7l", "armv8l",
                                   "riscv64", "ppc64le", "ppc64", "s390x"})


def _signal_number(value: str) -> int:
    """runc accepts numbers and names, with or without the SIG prefix (``9``, ``KILL``)."""
    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:   # signal.NSIG
            return number
        raise UsageError("SIGNAL", f"invalid signal number {value!r}")
    name = text if text.startswith("SIG") else "SIG" + text
    if name in SIGNALS and os.uname().machine in GENERIC_SIGNAL_ARCHES:
        return SIGNALS[name]
    try:
        import signal  # its enum import (~5 ms) is paid only for an uncommon name

        return int(signal.Signals[name])
    except KeyError:
        raise UsageError("SIGNAL", f"unknown signal {value!r}") from None


def load(store: Store, container_id: str) -> tuple[dict[str, Any], str]:
    data = store.read(container_id)
    return data, status(data, store.dir(container_id))


def state(store: Store, container_id: str) -> dict[str, Any]:
    data, current = load(store, container_id)
    return oci_state(data, current)


def start(store: Store, container_id: str) -> None:
    """Release the init blocked on exec.fifo (runc: open the fifo for reading)."""
    with store.lock(container_id):
        data, current = load(store, container_id)
        if current == "stopped":
            raise StateTransitionError(container_id, current, "start")
        if current != "created":
            raise ContainerError(None, f"cannot start an already {current} container")
        fifo = os.path.join(store.dir(container_id), "exec.fifo")
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            _await_fifo(fd, data)
        finally:
            os.close(fd)
            try:
                os.unlink(fifo)
            except FileNotFoundError:
                pass
    _lifecycle_hook(store, container_id, data, "limpet_started", fatal=True)


def _await_fifo(fd: int, data: dict[str, Any]) -> None:
    """Read the init's byte; fail if the init dies instead of writing it. Then read on until
    the init's execve closes the fifo (close-on-exec): anything more is the error of a phase
    after start (a startContainer hook), which fails ``start``."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        if poller.poll(100):
            try:
                chunk = os.read(fd, 1)
            except BlockingIOError:
                chunk = b""
            if chunk:
                break
        if status(data, "/nonexistent") == "stopped":
            raise ContainerError(None, "cannot start a container that has stopped "
                                 "(the init exited before start)")
    os.set_blocking(fd, True)
    report = b""
    while chunk := os.read(fd, 65536):
        report += chunk
    if report:
        try:
            wire = json.loads(report)
        except ValueError:
            wire = None
        if not isinstance(wire, dict):
            raise ContainerError(None, "the container process failed after start: "
                                 + report.decode(errors="replace"))
        raise from_wire(wire)


def exec_target(store: Store, container_id: str, ignore_paused: bool) -> dict[str, Any]:
    """The container's state.json, if a process may be executed in it (runc's words)."""
    data = store.read(container_id)
    current = status(data, store.dir(container_id))
    if current == "stopped":
        raise ContainerError(None, "cannot exec in a stopped state")
    if current == "paused" and not ignore_paused:
        raise ContainerError(None, "cannot exec in a paused state (use --ignore-paused "
                             "to override)")
    if current == "creating" or not data.get("pid"):
        raise ContainerError(None, f"cannot exec in a {current} container")
    return data


def kill(store: Store, container_id: str, sig: str, all_processes: bool = False) -> None:
    number = _signal_number(sig)
    data, current = load(store, container_id)
    if current == "stopped":
        raise ContainerError(None, "container not running")
    control = control_module(data)
    if all_processes and control is not None:
        control.signal_all(data["facts"], number)
        return
    pids = container_pids(data) if all_processes else [data["pid"]]
    for pid in pids:
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass


def container_pids(data: dict[str, Any]) -> list[int]:
    """The processes of a container: those its cgroups list (``procsFiles``, recorded by the
    cgroups plugin), else those in its pid namespace when it has its own."""
    files = (data.get("facts") or {}).get("procsFiles")
    if files:
        pids: set[int] = set()
        for path in files:
            try:
                with open(path) as f:
                    pids.update(int(line) for line in f if line.strip())
            except FileNotFoundError:
                continue
        return sorted(pids)
    return _pid_namespace_members(data["pid"])


def _pid_namespace_members(init: int) -> list[int]:
    try:
        target = os.stat(f"/proc/{init}/ns/pid").st_ino
    except FileNotFoundError:
        return []
    host_ns = os.stat("/proc/self/ns/pid").st_ino
    if target == host_ns:
        return [init]
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == target:
                    pids.append(int(name))
            except OSError:
                continue
    return pids


def delete(store: Store, container_id: str, force: bool = False) -> None:
    """Remove a stopped (or, with force, any) container and everything it holds."""
    try:
        data, current = load(store, container_id)
    except ContainerError:
        if force:
            return
        raise
    with store.lock(container_id):
        if current in ("running", "paused", "creating") and not force:
            raise ContainerError(None, f"cannot delete container {container_id} that is not "
                                 f"stopped: {current}")
        control = control_module(data)
        if control is not None and (current != "stopped" or control.orphans(data["facts"])):
            # every process of the cgroups (frozen first: none escapes by forking), also
            # those a stopped container without its own pid namespace left behind
            control.signal_all(data["facts"], SIGKILL)
        elif current != "stopped" and data.get("pid"):
            for pid in container_pids(data) or [data["pid"]]:
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
        if current != "stopped" and data.get("pid") and \
                not wait_gone(data["pid"], 10.0, data.get("initStartTime")):
            raise ContainerError(None, f"container {container_id}: init {data['pid']} "
                                 "did not die after SIGKILL")
        failures = _teardown(store, container_id, data)
        _lifecycle_hook(store, container_id, data, "limpet_deleted")
        remove_tree(store.dir(container_id))
    for failure in failures:
        log.warning(failure)


def _teardown(store: Store, container_id: str, data: dict[str, Any]) -> list[str]:
    ops = data.get("teardown") or []
    if not ops:
        return []
    from .parent import ParentContext, run_teardown

    pctx = ParentContext(container_id, data["bundle"], store.dir(container_id),
                         init_pid=data.get("pid") or 0, pid=data.get("pid"))
    return run_teardown(ops, data.get("handlers", {}), pctx)


def _lifecycle_hook(store: Store, container_id: str, data: dict[str, Any], hook: str,
                    fatal: bool = False) -> None:
    """Call ``hook`` of the plugins that created the container. ``fatal``: an error fails
    the verb (``limpet_started``: a poststart hook failure fails ``start``); otherwise it is
    a warning and the verb goes on (``limpet_deleted``)."""
    if hook not in (data.get("hooks") or []):
        return
    from . import config, plugins
    from .context import LifecycleContext

    # The plugins that created the container, not whatever the environment says now.
    runtime_config, doc, path = config.load(data.get("runtimeConfig"))
    loaded = plugins.load(runtime_config, doc, path, cache_dir=store.root)
    ctx = LifecycleContext(container_id, data["bundle"], store.dir(container_id),
                           data.get("pid"), data)
    try:
        getattr(loaded.hook, hook)(ctx=ctx)
    except Exception as exc:
        if fatal:
            raise
        log.warning(f"{hook}: {exc}")


def wait_exit(pid: int) -> int:
    """Reap ``pid`` (we are its subreaper) and any other orphan; return a shell-style code."""
    while True:
        try:
            reaped, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if reaped == pid:
            if os.WIFSIGNALED(wait_status):
                return 128 + os.WTERMSIG(wait_status)
            return os.WEXITSTATUS(wait_status)


def list_states(store: Store) -> list[dict[str, Any]]:
    out = []
    for container_id in store.ids():
        try:
            out.append(state(store, container_id))
        except ContainerError:
            continue
    return out


def _controlled(data: dict[str, Any], verb: str) -> Any:
    control = control_module(data)
    if control is None:
        raise ContainerError(None, f"{verb} needs the container's cgroups, and this container "
                             "has none (no cgroups plugin at create, or rootless without "
                             "linux.cgroupsPath)")
    return control


def pause(store: Store, container_id: str) -> None:
    """Freeze every process of a running (or created) container (runc: pause)."""
    with store.lock(container_id):
        data, current = load(store, container_id)
        if current not in ("running", "created"):
            raise ContainerError(None, "container not running")
        _controlled(data, "pause").pause(data["facts"])


def resume(store: Store, container_id: str) -> None:
    """Thaw a paused container (runc: resume)."""
    with store.lock(container_id):
        data, current = load(store, container_id)
        if current != "paused":
            raise ContainerError(None, "container not paused")
        _controlled(data, "resume").resume(data["facts"])


def update(store: Store, container_id: str, resources: dict[str, Any]) -> None:
    """Change the limits of a container that is not stopped (runc: update); the applied
    resources are saved in state.json for the next update."""
    with store.lock(container_id):
        data, current = load(store, container_id)
        if current == "stopped":
            raise ContainerError(None, f"cannot update container {container_id}: it is "
                                 "stopped")
        data["facts"] = _controlled(data, "update").update(data["facts"], resources)
        store.write(container_id, data)


def pids(store: Store, container_id: str) -> list[int]:
    """Host pids of every process in the container's cgroups (runc: ps)."""
    data, _ = load(store, container_id)
    control = control_module(data)
    if control is None:
        return container_pids(data) if data.get("pid") else []
    result: list[int] = control.pids(data["facts"])
    return result


def stats(store: Store, container_id: str) -> dict[str, Any]:
    data, current = load(store, container_id)
    if current == "stopped":
        raise ContainerError(None, f"container with id {container_id} is not running")
    result: dict[str, Any] = _controlled(data, "events").stats(data["facts"])
    return result


def events(store: Store, container_id: str, interval: float,
           emit: Any) -> None:
    """OOM events and stats every ``interval`` seconds until the container stops."""
    data, current = load(store, container_id)
    if current == "stopped":
        raise ContainerError(None, f"container with id {container_id} is not running")
    directory = store.dir(container_id)

    def alive() -> bool:
        return os.path.exists(directory) and status(data, directory) != "stopped"

    _controlled(data, "events").events(data["facts"], container_id, interval, alive, emit)
