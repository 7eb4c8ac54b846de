"""The verbs after ``create``: start, state, kill, delete, list (runtime.md#operations).

Lean on purpose: these run on every container and import only the standard library and
lean core modules. Plugins are loaded only when state.json records that one implements a
lifecycle hook or a teardown op needs a handler.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
from typing import Any

from .errors import ContainerError, StateTransitionError, UsageError
from .log import log
from .state import Store, oci_state, status, wait_gone


def _signal_number(value: str) -> int:
    """runc accepts numbers and names, with or without the SIG prefix (``9``, ``KILL``)."""
    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise UsageError("SIGNAL", f"invalid signal number {value!r}")
    name = text if text.startswith("SIG") else "SIG" + text
    try:
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
    """Read the init's byte; fail if the init dies instead of writing it."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        if poller.poll(100):
            try:
                chunk = os.read(fd, 1)
            except BlockingIOError:
                chunk = b""
            if chunk:
                return
        if status(data, "/nonexistent") == "stopped":
            raise ContainerError(None, "cannot start a container that has stopped "
                                 "(the init exited before start)")


def kill(store: Store, container_id: str, sig: str, all_processes: bool = False) -> None:
    number = _signal_number(sig)
    data, current = load(store, container_id)
    if current == "stopped":
        raise ContainerError(None, "container not running")
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
        if current != "stopped" and data.get("pid"):
            for pid in container_pids(data) or [data["pid"]]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not wait_gone(data["pid"], 10.0, data.get("initStartTime")):
                raise ContainerError(None, f"container {container_id}: init {data['pid']} "
                                     "did not die after SIGKILL")
        failures = _teardown(store, container_id, data)
        _lifecycle_hook(store, container_id, data, "limpet_deleted")
        shutil.rmtree(store.dir(container_id), ignore_errors=True)
    for failure in failures:
        log.warning(failure)


def _teardown(store: Store, container_id: str, data: dict[str, Any]) -> list[str]:
    ops = data.get("teardown") or []
    if not ops:
        return []
    from .create import ParentContext, run_teardown

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
    loaded = plugins.load(runtime_config, doc, path)
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

