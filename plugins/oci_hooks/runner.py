"""Run OCI hooks (config.md#posix-platform-hooks): fork, then execve ``path`` with exactly
the hook's ``args`` (``args[0]`` is argv[0]; ``[path]`` when absent) and exactly its
``env``; the container state JSON on stdin; ``timeout`` seconds, after which the hook (and
its process group) is killed; no timeout waits forever. The hook's stdout is discarded, the
tail of its stderr (last :data:`TAIL_LINES` lines) goes into the error.

Runs in the runtime process (prestart, createRuntime, poststart, poststop) and in the
container process (createContainer before pivot_root, startContainer after it), so it is
lean: the standard library and :mod:`limpet.core.errors` only, imported at module level
(signal as ``_signal``, without its enums; its names only when a hook dies of a signal).
"""

from __future__ import annotations

import _signal  # signal without its enums: this runs in the container process too
import fcntl
import os
import select
import time

from limpet.core import jsonlite
from limpet.core.errors import ExecutionError
from limpet.core.fds import cloexec_above

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: How much of a failed hook's stderr the error shows.
TAIL_LINES = 20
TAIL_BYTES = 16384


def hook_state(base: dict[str, Any], status: str, pid: int | None) -> dict[str, Any]:
    """The state document (runtime.md#state) a hook reads on stdin."""
    state: dict[str, Any] = {"ociVersion": base["ociVersion"], "id": base["id"],
                             "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = base["bundle"]
    if base.get("annotations"):
        state["annotations"] = base["annotations"]
    return state


def run_hooks(kind: str, hooks: list[dict[str, Any]], state: dict[str, Any]) -> None:
    """Run the hooks of one kind in order; the first failure raises (``hooks.KIND[i]``)."""
    for i, hook in enumerate(hooks):
        run_hook(hook, state, f"hooks.{kind}[{i}]")


def run_hooks_warning(kind: str, hooks: list[dict[str, Any]], state: dict[str, Any]) -> list[str]:
    """Run every hook of one kind, failures or not (poststop); returns the failures."""
    failures = []
    for i, hook in enumerate(hooks):
        try:
            run_hook(hook, state, f"hooks.{kind}[{i}]")
        except ExecutionError as exc:
            failures.append(str(exc))
    return failures


def run_hook(hook: dict[str, Any], state: dict[str, Any], where: str) -> None:
    """Run one hook to completion; raise :class:`ExecutionError` naming ``where`` if it cannot
    be executed, exits non-zero, is killed by a signal or times out."""
    path: str = hook["path"]
    argv = list(hook.get("args") or []) or [path]
    env = dict(e.split("=", 1) for e in hook.get("env") or [])
    timeout = hook.get("timeout")
    stdin = os.memfd_create("oci-hook-state", os.MFD_CLOEXEC)
    try:
        os.write(stdin, jsonlite.dumps(state, compact=True).encode())
        os.lseek(stdin, 0, os.SEEK_SET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        exec_r, exec_w = os.pipe()
        pid = os.fork()
        if pid == 0:   # pragma: no cover - the child execs or exits
            _child(path, argv, env, (stdin, out_w, err_w), exec_w)
    finally:
        os.close(stdin)
    for fd in (out_w, err_w, exec_w):
        os.close(fd)
    try:
        # EOF when execve succeeded (close-on-exec); an errno if it failed.
        failed = _read_to_eof(exec_r)
    finally:
        os.close(exec_r)
    if failed:
        os.waitpid(pid, 0)
        os.close(out_r)
        os.close(err_r)
        head, _, rest = failed.partition(b" ")
        number = int(head or 0)
        reason = os.strerror(number) if number else rest.decode(errors="replace")
        raise ExecutionError(where, f"cannot execute {path}: {reason}", errno=number or None)
    wait_status, stderr = _wait(pid, out_r, err_r, timeout)
    tail = _tail(stderr)
    if wait_status is None:
        message = f"{path} timed out after {timeout} s (killed)"
    elif os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        message = f"{path} was killed by signal {number} ({_signal_name(number)})"
    elif os.WEXITSTATUS(wait_status) != 0:
        message = f"{path} exited with status {os.WEXITSTATUS(wait_status)}"
    else:
        return
    raise ExecutionError(where, f"{message}: {tail}" if tail else message)


def _child(path: str, argv: list[str], env: dict[str, str], stdio: tuple[int, int, int],
           exec_w: int) -> None:  # pragma: no cover - runs in the forked child
    try:
        os.setpgid(0, 0)   # its own process group: a timeout kills what it started too
        # Python ignores these; an ignored signal would stay ignored across execve.
        for number in (_signal.SIGPIPE, _signal.SIGXFSZ):
            _signal.signal(number, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
        # Above 2 first, so that dup2 onto 0, 1, 2 never meets one of them.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
        for target, fd in enumerate(high):
            os.dup2(fd, target)
        cloexec_above(2)   # the hook gets stdin, stdout and stderr only (as runc's hooks)
        os.execve(path, argv, env)
    except OSError as exc:
        os.write(exec_w, str(exc.errno or 0).encode())
    except BaseException as exc:
        os.write(exec_w, f"0 {type(exc).__name__}: {exc}".encode(errors="replace"))
    os._exit(127)


def _read_to_eof(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def _wait(pid: int, out_r: int, err_r: int, timeout: int | None) -> tuple[int | None, bytes]:
    """Wait for the hook, draining its output; returns (wait status or None if it timed
    out and was killed, stderr tail bytes). Stops at the hook's exit, not at EOF of its
    pipes: something it left running may hold them open."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1   # no pidfd (old kernel): poll waitpid instead
    poller = select.poll()
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    stderr = bytearray()
    wait_status: int | None = None
    try:
        while True:
            if pidfd < 0:
                reaped, status = os.waitpid(pid, os.WNOHANG)
                if reaped:
                    wait_status = status
                    break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                _kill(pid)
                os.waitpid(pid, 0)
                break
            wait_ms = -1 if remaining is None else int(remaining * 1000) + 1
            if pidfd < 0:
                wait_ms = 50 if wait_ms < 0 else min(wait_ms, 50)
            exited = False
            for fd, _event in poller.poll(wait_ms):
                if fd == pidfd:
                    exited = True
                elif not _drain(fd, stderr if fd == err_r else None):
                    poller.unregister(fd)
            if exited:
                _, wait_status = os.waitpid(pid, 0)
                break
        _drain(out_r, None)
        _drain(err_r, stderr)
    finally:
        for fd in (out_r, err_r, pidfd):
            if fd >= 0:
                os.close(fd)
    return wait_status, bytes(stderr)


def _drain(fd: int, keep: bytearray | None) -> bool:
    """Read what is there; False at EOF. ``keep`` collects the last TAIL_BYTES bytes."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        if keep is not None:
            keep += chunk
            del keep[:-TAIL_BYTES]


def _kill(pid: int) -> None:
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _tail(stderr: bytes) -> str:
    lines = [line.rstrip() for line in stderr.decode(errors="replace").splitlines()]
    return "; ".join([line for line in lines if line.strip()][-TAIL_LINES:])


def _signal_name(number: int) -> str:
    import signal  # here, not at the top: only a hook killed by a signal needs the names

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
