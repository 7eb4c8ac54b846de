"""linux.seccomp in real containers: actions, errnos, argument filters, podman's real
default profile, the load order around the credentials, the notify listener and the
seccomp agent, and bad profiles (config-linux.md#seccomp)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from limpet.plugins.seccomp import profile

from tests.conftest import LIMPET, Bundle, Runtime, run_in

pytestmark = pytest.mark.root

PODMAN = Path("/usr/share/containers/seccomp.json")
SIGSYS_STATUS = 128 + signal.SIGSYS


def with_profile(bundle: Bundle, **fields: Any) -> Bundle:
    """A writable /work (tmpfs) and ``linux.seccomp`` = defaultAction ALLOW + ``fields``."""
    bundle.config["mounts"].append({"destination": "/work", "type": "tmpfs",
                                    "source": "tmpfs"})
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", **fields}
    return bundle


def test_denied_syscalls_return_the_configured_errno(limpet: Runtime, bundle: Bundle) -> None:
    with_profile(bundle, syscalls=[
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])
    result = run_in(limpet, bundle, "mkdir /work/a; echo mkdir=$?; rmdir /work; "
                                    "echo rmdir=$?; touch /work/f && echo touch=ok")
    assert result.stdout.splitlines() == ["mkdir=1", "rmdir=1", "touch=ok"]
    assert "mkdir: can't create directory '/work/a': Operation not permitted" in result.stderr
    assert "rmdir: '/work': Function not implemented" in result.stderr


def test_argument_filters_deny_kill_0_and_allow_sigcont(limpet: Runtime,
                                                        bundle: Bundle) -> None:
    with_profile(bundle, syscalls=[
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}])
    result = run_in(limpet, bundle, "kill -0 $$; echo zero=$?; kill -CONT $$; echo cont=$?")
    assert result.stdout.splitlines() == ["zero=1", "cont=0"]
    assert "Operation not permitted" in result.stderr


def test_masked_eq_filters_on_the_masked_argument(limpet: Runtime, bundle: Bundle) -> None:
    # personality(PER_LINUX32 = 8) is refused whatever the flag bits; PER_LINUX (0) passes.
    with_profile(bundle, syscalls=[
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}])
    result = run_in(limpet, bundle, "linux32 true; echo l32=$?; linux64 true; echo l64=$?")
    assert result.stdout.splitlines() == ["l32=1", "l64=0"]
    assert "Permission denied" in result.stderr


def test_kill_process_ends_the_process_with_sigsys(limpet: Runtime, bundle: Bundle) -> None:
    with_profile(bundle, syscalls=[{"names": ["mkdir", "mkdirat"],
                                    "action": "SCMP_ACT_KILL_PROCESS"}])
    result = run_in(limpet, bundle, "mkdir /work/a; echo status=$?; "
                                    "test -d /work/a || echo absent")
    assert result.stdout.splitlines() == [f"status={SIGSYS_STATUS}", "absent"]
    bundle.set_args("/bin/mkdir", "/work/b").write()
    direct = limpet("run", "--bundle", str(bundle.path), f"t-{uuid.uuid4().hex[:8]}")
    assert direct.returncode == SIGSYS_STATUS


def _kmsg_end() -> int:
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    return fd


def _kmsg_records(fd: int) -> list[str]:
    records = []
    while True:
        try:
            records.append(os.read(fd, 8192).decode(errors="replace"))
        except BlockingIOError:
            return records


def test_log_allows_the_syscall_and_the_kernel_logs_it(limpet: Runtime,
                                                       bundle: Bundle) -> None:
    with_profile(bundle, syscalls=[{"names": ["rmdir"], "action": "SCMP_ACT_LOG"}])
    kmsg = _kmsg_end()
    try:
        result = run_in(limpet, bundle, "mkdir /work/logged && rmdir /work/logged && "
                                        "test ! -e /work/logged && echo removed")
        records = _kmsg_records(kmsg)
    finally:
        os.close(kmsg)
    assert result.stdout == "removed\n"
    logged = [r for r in records if "type=1326" in r and 'comm="rmdir"' in r]
    assert logged and "code=0x7ffc0000" in logged[0] and "syscall=84" in logged[0]


def test_trap_and_trace_and_filter_flags(limpet: Runtime, bundle: Bundle) -> None:
    with_profile(bundle, flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                 syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"},
                           {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}])
    result = run_in(limpet, bundle, "mkdir /work/a; echo trap=$?; rmdir /work; "
                                    "echo trace=$?")
    assert result.stdout.splitlines() == [f"trap={SIGSYS_STATUS}", "trace=1"]
    assert "Function not implemented" in result.stderr   # TRACE without a tracer


@pytest.mark.skipif(not PODMAN.exists(), reason="containers-common is not installed")
def test_podmans_default_profile_runs_a_busybox_shell(limpet: Runtime, bundle: Bundle) -> None:
    caps = bundle.config["process"]["capabilities"]["bounding"]
    bundle.config["linux"]["seccomp"] = profile.resolve(profile.load_template(str(PODMAN)),
                                                        caps)
    assert bundle.config["linux"]["seccomp"]["defaultErrnoRet"] == 38
    result = run_in(limpet, bundle, "grep -E '^Seccomp(_filters)?:' /proc/self/status; "
                                    "echo a b c | wc -w; (sleep 0; ls /bin/sh) && "
                                    "cat /proc/self/comm | tr a-z A-Z; id -u")
    assert result.stdout.split() == ["Seccomp:", "2", "Seccomp_filters:", "1", "3",
                                     "/bin/sh", "CAT", "0"], result.stderr
    assert result.returncode == 0


def test_limpet_spec_default_profile_applies(limpet: Runtime, bundle: Bundle) -> None:
    # The bundle fixture starts from `limpet spec`, which carries podman's profile.
    assert bundle.config["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    bundle.config["process"]["args"] = ["/bin/sh", "-c",
                                        "grep -E '^Seccomp:' /proc/self/status"]
    bundle.write()
    result = limpet("run", "--bundle", str(bundle.path), f"t-{uuid.uuid4().hex[:8]}")
    assert result.stdout.split() == ["Seccomp:", "2"]


# --- the load order ------------------------------------------------------------------------

#: Syscalls only the runtime's setup makes; a profile killing them must not stop create.
SETUP_SYSCALLS = ["mount", "umount2", "pivot_root", "sethostname", "setns", "unshare",
                  "capset", "setgroups", "setresuid", "setresgid", "chroot", "mknodat"]


def test_a_strict_profile_never_blocks_the_setup_with_no_new_privileges(
        limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["noNewPrivileges"] = True
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    with_profile(bundle, syscalls=[{"names": SETUP_SYSCALLS,
                                    "action": "SCMP_ACT_KILL_PROCESS"}])
    result = run_in(limpet, bundle, "grep -E '^(Seccomp|NoNewPrivs|Uid):' /proc/self/status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Uid:", "1000", "1000", "1000", "1000",
                                     "NoNewPrivs:", "1", "Seccomp:", "2"]


def test_without_no_new_privileges_the_filter_loads_before_the_credentials(
        limpet: Runtime, bundle: Bundle) -> None:
    # Loading needs CAP_SYS_ADMIN then (runc's order): the init still holds it, and the
    # credentials (setresuid, capset) pass through the filter, which allows them.
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    with_profile(bundle, syscalls=[
        {"names": ["mount", "pivot_root", "sethostname", "unshare"],
         "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    result = run_in(limpet, bundle, "grep -E '^(Seccomp|NoNewPrivs|Uid):' /proc/self/status;"
                                    " mkdir /tmp/x; echo mkdir=$?")
    assert result.stdout.split() == ["Uid:", "1000", "1000", "1000", "1000",
                                     "NoNewPrivs:", "0", "Seccomp:", "2", "mkdir=1"]


# --- the listener and the agent ------------------------------------------------------------

@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A listener that takes one connection, records the state and the fds, and closes
    the notify fd (notified syscalls then fail with ENOSYS)."""
    path = tmp_path / "listener.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(60)
    got: dict[str, Any] = {"data": b"", "fds": 0, "connections": 0}

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        got["connections"] += 1
        with conn:
            while True:
                data, fds, _, _ = socket.recv_fds(conn, 65536, 8)
                got["fds"] += len(fds)
                for fd in fds:
                    os.close(fd)
                if not data:
                    break
                got["data"] += data

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, got
    server.close()
    thread.join(timeout=60)


def test_listener_receives_one_fd_and_the_state_with_the_metadata(
        limpet: Runtime, bundle: Bundle, listener: tuple[Path, dict[str, Any]]) -> None:
    path, got = listener
    bundle.config["annotations"] = {"org.example/key": "value"}
    with_profile(bundle, listenerPath=str(path), listenerMetadata="MKNOD=/dev/null",
                 syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}])
    result = run_in(limpet, bundle, "mkdir /work/a; echo mkdir=$?", name="notified")
    assert result.stdout == "mkdir=1\n"
    assert "Function not implemented" in result.stderr   # the listener closed the fd
    assert got["connections"] == 1 and got["fds"] == 1
    message = json.loads(got["data"])
    assert message["fds"] == ["seccompFd"] and message["metadata"] == "MKNOD=/dev/null"
    assert message["ociVersion"] == "1.3.0"
    state = message["state"]
    assert state == {"ociVersion": "1.3.0", "id": "notified", "status": "creating",
                     "pid": message["pid"], "bundle": str(bundle.path),
                     "annotations": {"org.example/key": "value"}}
    assert message["pid"] > 1


def test_an_unreachable_listener_fails_create_and_leaves_nothing(
        limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    with_profile(bundle, listenerPath=str(tmp_path / "nobody.sock"),
                 syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]).write()
    result = limpet("create", "--bundle", str(bundle.path), "lonely")
    assert result.returncode != 0
    assert "linux.seccomp.listenerPath: cannot send the seccomp notify fd to" in result.stderr
    assert limpet.containers() == []


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


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``limpet seccomp-agent`` as a subprocess; stopped with SIGTERM."""
    sock, out, policy = tmp_path / "agent.sock", tmp_path / "agent.jsonl", tmp_path / "p.yaml"
    policy.write_text(POLICY)
    proc = subprocess.Popen([LIMPET, "seccomp-agent", "--socket", str(sock), "--policy",
                             str(policy), "--output", str(out)])
    deadline = time.monotonic() + 30
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sock.exists(), "the agent did not start"
    yield sock, out
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_the_agent_logs_and_denies_per_policy(limpet: Runtime, bundle: Bundle,
                                              agent: tuple[Path, Path],
                                              no_new_privileges: bool) -> None:
    # Without noNewPrivileges the filter (and the notify fd) comes before the credentials.
    sock, out = agent
    bundle.config["process"]["noNewPrivileges"] = no_new_privileges
    with_profile(bundle, listenerPath=str(sock), listenerMetadata="test",
                 flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                 syscalls=[{"names": ["mkdir", "mkdirat", "kill"],
                            "action": "SCMP_ACT_NOTIFY"}])
    result = run_in(limpet, bundle, "mkdir /work/a; echo mkdir=$?; kill -0 $$; "
                                    "echo zero=$?; kill -CONT $$; echo cont=$?",
                    name="watched")
    assert result.stdout.splitlines() == ["mkdir=1", "zero=1", "cont=0"]
    assert "Permission denied" in result.stderr     # EACCES from the policy
    records = [json.loads(line) for line in out.read_text().splitlines()]
    hello = [r for r in records if r.get("event") == "container"]
    assert len(hello) == 1 and hello[0]["container"] == "watched"
    assert hello[0]["metadata"] == "test"
    calls = [(r["syscall"], r["action"], r.get("errno"), r["args"][1]) for r in records
             if r.get("container") == "watched" and "syscall" in r]
    assert calls[0][:3] == ("mkdir", "deny", "EACCES")
    assert calls[1:] == [("kill", "deny", "EPERM", 0),
                         ("kill", "allow", None, signal.SIGCONT)]


# --- bad profiles --------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "expected"), [
    ({"defaultAction": "SCMP_ACT_FOO"},
     'linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_FOO"'),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_SAME"}]}]},
     'linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator "SCMP_CMP_SAME"'),
    ({"architectures": ["SCMP_ARCH_PDP11"]},
     'linux.seccomp.architectures[0]: unknown seccomp architecture "SCMP_ARCH_PDP11"'),
    ({"architectures": ["SCMP_ARCH_M68K"]},
     "linux.seccomp.architectures[0]: SCMP_ARCH_M68K is not known to libseccomp"),
    ({"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]},
     "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_ALLOW takes no errno"),
    ({"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY rules need a listener"),
])
def test_bad_profiles_give_clear_errors(limpet: Runtime, bundle: Bundle,
                                        fields: dict[str, Any], expected: str) -> None:
    with_profile(bundle, **fields).write()
    result = limpet("create", "--bundle", str(bundle.path), "bad")
    assert result.returncode != 0
    assert expected in result.stderr
    assert limpet.containers() == []
