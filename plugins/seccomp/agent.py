"""``limpet seccomp-agent``: a seccomp notify listener (config-linux.md#seccomp).

Any runtime that implements ``listenerPath`` (limpet, runc, crun) connects to the agent's
unix socket once per container and sends the container process state with the filter's
notify fd (``seccompFd``). From then on every syscall the profile routes to
SCMP_ACT_NOTIFY stops in the kernel until the agent answers: it reads the notification
(SECCOMP_IOCTL_NOTIF_RECV), looks the syscall up in its policy (:mod:`.policy`), answers
(SECCOMP_IOCTL_NOTIF_SEND: let it continue, or fail it with an errno) and writes one JSON
line: time, container id, pid, syscall name and number, the six argument registers, and
the answer. It runs until SIGTERM or SIGINT.

What it cannot guarantee: letting a syscall continue (SECCOMP_USER_NOTIF_FLAG_CONTINUE)
means the kernel runs it as the caller made it, so the decision can only rest on values
the kernel captured at the trap, the argument registers. What a pointer argument points to
(a path, a struct) is in the container's memory and can change between any check and the
kernel's use, so the agent never looks there. If the agent exits, pending and later
notified syscalls fail with ENOSYS. It sees only the syscalls the profile sends to it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from limpet.core.errors import ConfigError, UsageError

from . import libseccomp
from .policy import Policy, load_policy

#: linux/seccomp.h: struct seccomp_notif (id, pid, flags, struct seccomp_data: nr, arch,
#: instruction_pointer, args[6]) and struct seccomp_notif_resp (id, val, error, flags).
NOTIF = struct.Struct("=QIIiIQ6Q")
RESP = struct.Struct("=QqiI")
_IOC_WRITE, _IOC_READ = 1, 2


def _iowr(nr: int, size: int) -> int:
    return ((_IOC_READ | _IOC_WRITE) << 30) | (size << 16) | (ord("!") << 8) | nr


SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, NOTIF.size)
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, RESP.size)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
MAX_STATE = 1 << 20


@dataclass
class Container:
    """One container's notify fd and who it is (from the container process state)."""

    fd: int
    container_id: str
    pid: int | None


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def read_process_state(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The container process state (JSON, until the runtime closes) and the fds sent."""
    data, fds = b"", []
    while True:
        chunk, new_fds, _flags, _addr = socket.recv_fds(conn, 65536, 8,
                                                       socket.MSG_CMSG_CLOEXEC)
        fds += new_fds
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_STATE:
            raise ValueError("the container process state exceeds 1 MiB")
    try:
        state = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"the container process state is not JSON: {exc}") from None
    if not isinstance(state, dict):
        raise ValueError("the container process state is not a JSON object")
    return state, fds


class Agent:
    """The listening socket, one notify fd per container, and the policy."""

    def __init__(self, socket_path: str, policy: Policy, out: IO[str]) -> None:
        self.socket_path = socket_path
        self.policy = policy
        self.out = out
        self.containers: dict[int, Container] = {}
        self.epoll = select.epoll()
        self.stop = False

    def log(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps({"time": _now(), **record}) + "\n")
        self.out.flush()

    # --- connections -----------------------------------------------------------------------

    def accept(self, server: socket.socket) -> None:
        conn, _ = server.accept()
        fds: list[int] = []
        with conn:
            conn.settimeout(10)
            try:
                state, fds = read_process_state(conn)
                names = state.get("fds") or []
                if not isinstance(names, list):
                    raise ValueError(f"fds is not a list of names ({names!r})")
                index = names.index("seccompFd") if "seccompFd" in names else -1
                if not 0 <= index < len(fds):
                    raise ValueError(f"no seccompFd among the fds sent ({names})")
            except (OSError, ValueError) as exc:
                for fd in fds:
                    os.close(fd)
                self.log({"event": "error", "error": f"bad connection: {exc}"})
                return
        notify_fd = fds.pop(index)
        for fd in fds:
            os.close(fd)
        inner: dict[str, Any] = state.get("state") or {}
        if not isinstance(inner, dict):
            inner = {}
        container = Container(notify_fd, str(inner.get("id", "")), state.get("pid"))
        self.containers[notify_fd] = container
        self.epoll.register(notify_fd, select.EPOLLIN)
        self.log({"event": "container", "container": container.container_id,
                  "pid": container.pid, "bundle": inner.get("bundle"),
                  "metadata": state.get("metadata")})

    def drop(self, container: Container) -> None:
        self.epoll.unregister(container.fd)
        os.close(container.fd)
        del self.containers[container.fd]
        self.log({"event": "exit", "container": container.container_id, "pid": container.pid})

    # --- notifications ---------------------------------------------------------------------

    def answer(self, container: Container) -> None:
        buf = bytearray(NOTIF.size)
        try:
            fcntl.ioctl(container.fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):
                return   # the caller was killed or interrupted meanwhile
            raise
        notif_id, pid, _flags, nr, arch, _ip, *regs = NOTIF.unpack(buf)
        args = tuple(regs)
        name = libseccomp.syscall_name(arch, nr) or f"syscall_{nr}"
        action, err, rule = self.policy.decide(name, args)
        if action == "allow":
            response = RESP.pack(notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        else:
            response = RESP.pack(notif_id, 0, -err, 0)
        record: dict[str, Any] = {"container": container.container_id, "pid": pid,
                                  "syscall": name, "nr": nr, "args": list(args),
                                  "action": action}
        if action == "deny":
            record["errno"] = errno.errorcode.get(err, err)
        record["rule"] = rule
        try:
            fcntl.ioctl(container.fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(response))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            record["gone"] = True   # the caller died or was interrupted before the answer
        self.log(record)

    # --- the loop --------------------------------------------------------------------------

    def serve(self) -> int:
        server, inode = listen(self.socket_path)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

        def on_signal(signum: int, _frame: Any) -> None:
            self.stop = True

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(wake_w)
        self.epoll.register(server.fileno(), select.EPOLLIN)
        self.epoll.register(wake_r, select.EPOLLIN)
        self.log({"event": "listening", "socket": self.socket_path})
        try:
            while not self.stop:
                for fd, events in self.epoll.poll():
                    if fd == server.fileno():
                        self.accept(server)
                    elif fd in self.containers:
                        container = self.containers[fd]
                        if events & select.EPOLLIN:
                            try:
                                self.answer(container)
                            except OSError as exc:   # a broken fd: drop it, serve the rest
                                self.log({"event": "error", "container":
                                          container.container_id, "error": str(exc)})
                                self.drop(container)
                        elif events & (select.EPOLLHUP | select.EPOLLERR):
                            self.drop(container)   # every task of the filter is gone
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for container in list(self.containers.values()):
                self.drop(container)
            server.close()
            _remove_socket(self.socket_path, inode)
            os.close(wake_r)
            os.close(wake_w)
            self.epoll.close()
        self.log({"event": "stopped"})
        return 0


def listen(path: str) -> tuple[socket.socket, int]:
    """Bind the unix socket, mode 0600: only root (the runtime) may hand us containers.
    A stale socket (nobody listening) is replaced; a live one is an error. Returns the
    socket and the inode of its file (removed at exit only if still ours)."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise UsageError("--socket", f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError as exc:
            raise UsageError("--socket", f"{path}: {exc.strerror}") from None
        else:
            raise UsageError("--socket", f"{path}: another agent is listening there")
        finally:
            probe.close()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    except OSError as exc:
        server.close()
        raise UsageError("--socket", f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    server.listen(64)
    return server, os.stat(path).st_ino


def _remove_socket(path: str, inode: int) -> None:
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass


def run_agent(socket_path: str, policy_path: str, output: str | None = None) -> int:
    """The ``seccomp-agent`` verb."""
    policy = load_policy(policy_path)
    check_syscall_names(policy, policy_path)
    if output is None:
        return Agent(os.path.abspath(socket_path), policy, sys.stdout).serve()
    try:
        out = open(output, "a")   # noqa: SIM115 - held for the agent's whole life
    except OSError as exc:
        raise UsageError("--output", f"cannot open {output}: {exc.strerror}") from None
    with out:
        return Agent(os.path.abspath(socket_path), policy, out).serve()


def check_syscall_names(policy: Policy, path: str) -> None:
    """A syscall name libseccomp does not know could never match: refuse the policy."""
    for i, rule in enumerate(policy.rules):
        for j, name in enumerate(rule.syscalls):
            if libseccomp.syscall_number(name) is None:
                raise ConfigError(path, f"rules.{i}.syscalls.{j}: unknown syscall {name!r}")
