"""The seccomp agent: its policy file, and the agent answering a real notify fd without
root (a forked child sets no_new_privs and loads a NOTIFY filter; the test plays the
runtime and hands the fd to ``limpet seccomp-agent`` over its socket)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import ConfigError
from limpet.core.spec import Seccomp
from limpet.core.syscalls import Syscalls, const
from limpet.plugins.seccomp import ops
from limpet.plugins.seccomp.agent import check_syscall_names
from limpet.plugins.seccomp.compiler import compile_profile
from limpet.plugins.seccomp.policy import Policy, load_policy

LIMPET = str(Path(sys.executable).with_name("limpet"))
POLICY = """\
default: allow
rules:
  - syscalls: [mkdir, mkdirat]
    action: deny
    errno: EACCES
  - syscalls: [kill]
    args: [{index: 1, op: eq, value: 0}]
    action: deny
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


# --- the policy ------------------------------------------------------------------------------

def test_first_matching_rule_decides() -> None:
    policy = Policy.model_validate({"rules": [
        {"syscalls": ["kill"], "args": [{"index": 1, "op": "eq", "value": 0}],
         "action": "deny", "errno": "ESRCH"},
        {"syscalls": ["kill"], "action": "deny"},
        {"syscalls": ["personality"], "action": "allow",
         "args": [{"index": 0, "op": "masked_eq", "mask": 0xFF, "value": 8}]}]})
    assert policy.decide("kill", (1, 0, 0, 0, 0, 0)) == ("deny", errno.ESRCH, 0)
    assert policy.decide("kill", (1, 18, 0, 0, 0, 0)) == ("deny", errno.EPERM, 1)
    assert policy.decide("personality", (0x20008, 0, 0, 0, 0, 0)) == ("allow", 0, 2)
    assert policy.decide("mkdir", (0,) * 6) == ("allow", 0, None)


def test_default_deny_uses_the_policy_errno() -> None:
    policy = Policy.model_validate({"default": "deny", "errno": 38})
    assert policy.decide("mkdir", (0,) * 6) == ("deny", errno.ENOSYS, None)


@pytest.mark.parametrize(("text", "words"), [
    ("rules:\n  - syscalls: [mkdir]\n    action: deny\n    errno: EWHAT\n",
     ":4: rules.0.errno: unknown errno 'EWHAT'"),
    ("rules:\n  - syscalls: [mkdir]\n    action: allow\n    errno: EPERM\n",
     "errno is only for action deny"),
    ("rules:\n  - syscalls: [kill]\n    action: deny\n"
     "    args: [{index: 1, op: masked_eq, value: 0}]\n", "mask is required"),
    ("rules:\n  - syscalls: [kill]\n    action: deny\n    args: [{index: 7, op: eq, value: 0}]\n",
     "rules.0.args.0.index"),
    ("default: maybe\n", "default: Input should be 'allow' or 'deny'"),
    ("rules:\n  - syscalls: [mkdir]\n    action: deny\n    colour: red\n",
     ":4: rules.0.colour: unknown key 'colour'"),
    ("- just a list\n", "the top level must be a mapping"),
])
def test_bad_policies_are_errors_naming_file_line_and_key(tmp_path: Path, text: str,
                                                          words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(write(tmp_path, text))
    assert words in str(info.value)
    assert str(tmp_path / "policy.yaml") in str(info.value)


def test_a_missing_policy_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(str(tmp_path / "none.yaml"))
    assert info.value.where == "--policy"


def test_an_unknown_syscall_in_the_policy_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "rules: [{syscalls: [mkdir, mkdri], action: deny}]\n")
    with pytest.raises(ConfigError, match="rules.0.syscalls.1: unknown syscall 'mkdri'"):
        check_syscall_names(load_policy(path), path)


# --- the agent against a real notify fd -----------------------------------------------------

@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    sock, out = tmp_path / "agent.sock", tmp_path / "agent.jsonl"
    proc = subprocess.Popen([LIMPET, "seccomp-agent", "--socket", str(sock), "--policy",
                             write(tmp_path, POLICY), "--output", str(out)])
    deadline = time.monotonic() + 30
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sock.exists(), "the agent did not start listening"
    yield sock, out, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


class Pctx:
    container_id = "unit-c1"
    bundle = "/bundles/unit-c1"
    annotations: dict[str, str] = {}

    def __init__(self, pid: int) -> None:
        self.pid = pid


def notified_child(tmp_path: Path) -> tuple[int, int, socket.socket]:
    """Fork a child that loads a filter notifying mkdir and kill, sends us the notify fd,
    then makes the calls and writes their errnos on the returned socket."""
    bpf = compile_profile(Seccomp.model_validate({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "kill"], "action": "SCMP_ACT_NOTIFY"}]})).bpf
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        try:
            ours.close()
            Syscalls().prctl(const("PR_SET_NO_NEW_PRIVS"), 1)
            fd = Syscalls().seccomp_filter(bpf, const("SECCOMP_FILTER_FLAG_NEW_LISTENER"))
            socket.send_fds(theirs, [b"x"], [fd])
            os.close(fd)
            theirs.recv(1)     # the runtime passed the fd on
            results = []
            for call in (lambda: os.mkdir(tmp_path / "x"),
                         lambda: os.kill(os.getpid(), 0),
                         lambda: os.kill(os.getpid(), signal.SIGCONT)):
                try:
                    call()
                    results.append(0)
                except OSError as exc:
                    results.append(exc.errno)
            theirs.sendall(json.dumps(results).encode())
        finally:
            os._exit(0)
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    return pid, fds[0], ours


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_agent_answers_per_policy_and_logs_each_syscall(
        tmp_path: Path, agent: tuple[Path, Path, subprocess.Popen[bytes]]) -> None:
    sock, out, proc = agent
    pid, notify_fd, conn = notified_child(tmp_path)
    try:
        ops.send_to_listener(Pctx(pid), {"fds": [notify_fd], "path": str(sock),
                                         "metadata": "unit", "ociVersion": "1.3.0"})
    finally:
        os.close(notify_fd)
    conn.sendall(b"g")
    results = json.loads(conn.makefile("rb").read())
    conn.close()
    os.waitpid(pid, 0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert results == [errno.EACCES, errno.EPERM, 0]
    logged = records(out)
    assert logged[0]["event"] == "listening"
    assert {k: logged[1][k] for k in ("event", "container", "pid", "metadata")} == {
        "event": "container", "container": "unit-c1", "pid": pid, "metadata": "unit"}
    calls = [r for r in logged if "syscall" in r]
    assert [(r["syscall"], r["action"], r.get("errno")) for r in calls] == [
        ("mkdir", "deny", "EACCES"), ("kill", "deny", "EPERM"), ("kill", "allow", None)]
    assert all(r["container"] == "unit-c1" and r["pid"] == pid for r in calls)
    assert calls[1]["args"][:2] == [pid, 0] and calls[2]["args"][1] == signal.SIGCONT
    assert logged[-1]["event"] == "stopped"
    assert not sock.exists()


def test_agent_refuses_a_socket_another_agent_listens_on(
        tmp_path: Path, agent: tuple[Path, Path, subprocess.Popen[bytes]]) -> None:
    sock, _, _ = agent
    result = subprocess.run([LIMPET, "seccomp-agent", "--socket", str(sock), "--policy",
                             write(tmp_path, POLICY)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "--socket" in result.stderr and "another agent is listening" in result.stderr


def test_agent_logs_and_drops_a_connection_without_a_seccomp_fd(
        tmp_path: Path, agent: tuple[Path, Path, subprocess.Popen[bytes]]) -> None:
    sock, out, proc = agent
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(sock))
        conn.sendall(b'{"ociVersion": "1.3.0", "fds": [], "pid": 1, "state": {}}')
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    errors = [r for r in records(out) if r.get("event") == "error"]
    assert len(errors) == 1 and "no seccompFd" in errors[0]["error"]
