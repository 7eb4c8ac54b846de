"""``limpet exec``: a new process in a running container joins everything the container
has (namespaces, cgroups, seccomp filter) and gets its own attributes (user, env, cwd,
capabilities, rlimits, no_new_privs, terminal), as runc's exec."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import LIMPET, Bundle, Runtime, console_socket, read_pty

pytestmark = pytest.mark.root

NS_FILES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")


def _running(limpet: Runtime, bundle: Bundle, name: str | None = None) -> tuple[str, int]:
    """A container running ``sleep``; returns (id, host pid of its init)."""
    container_id = name or f"x-{uuid.uuid4().hex[:8]}"
    bundle.set_args("/bin/sleep", "1000").write()
    result = limpet("run", "-d", "--bundle", str(bundle.path), container_id)
    assert result.returncode == 0, result.stderr
    return container_id, int(limpet.state(container_id)["pid"])


def _ns(pid: int | str) -> dict[str, str]:
    return {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in NS_FILES}


def test_exec_prints_and_propagates_the_exit_status(limpet: Runtime, bundle: Bundle) -> None:
    cid, _ = _running(limpet, bundle)
    result = limpet("exec", cid, "/bin/sh", "-c", "echo out; echo err >&2; exit 42")
    assert result.returncode == 42
    assert result.stdout == "out\n"
    assert "err" in result.stderr


def test_exec_joins_every_namespace_and_the_cgroups(limpet: Runtime, bundle: Bundle) -> None:
    cid, pid = _running(limpet, bundle)
    script = ("for n in " + " ".join(NS_FILES) + "; do echo $n $(readlink /proc/self/ns/$n);"
              " done; echo pid1 $(cat /proc/1/comm); echo self $$; cat /proc/self/cgroup")
    result = limpet("exec", cid, "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    seen = dict(line.split(" ", 1) for line in lines[:len(NS_FILES)])
    assert seen == _ns(pid)
    assert "pid1 sleep" in lines
    assert int(lines[len(NS_FILES) + 1].split()[1]) > 1      # in the container's pid ns
    cgroups = sorted(lines[len(NS_FILES) + 2:])
    assert cgroups == sorted(Path(f"/proc/{pid}/cgroup").read_text().splitlines())


def test_exec_applies_user_env_cwd_and_no_new_privs(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["env"].append("FROM_CONFIG=1")
    cid, _ = _running(limpet, bundle)
    result = limpet("exec", "-u", "1000:1000", "--additional-gids", "5", "-e", "EXTRA=yes",
                    "--cwd", "/tmp", "--no-new-privs", cid, "/bin/sh", "-c",
                    "id; pwd; echo $FROM_CONFIG $EXTRA $HOME; grep -E '^(CapEff|NoNewPrivs)'"
                    " /proc/self/status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("uid=1000(user) gid=1000(user) groups=5(tty)")
    assert lines[1] == "/tmp"
    assert lines[2] == "1 yes /home/user"
    assert lines[3].split() == ["CapEff:", "0000000000000000"]
    assert lines[4].split() == ["NoNewPrivs:", "1"]


def test_exec_cap_adds_a_capability(limpet: Runtime, bundle: Bundle) -> None:
    cid, _ = _running(limpet, bundle)
    plain = limpet("exec", cid, "/bin/grep", "CapEff", "/proc/self/status")
    added = limpet("exec", "--cap", "CAP_SYS_ADMIN", cid, "/bin/grep", "CapEff",
                   "/proc/self/status")
    assert plain.returncode == 0 and added.returncode == 0, added.stderr
    before, after = (int(r.stdout.split()[1], 16) for r in (plain, added))
    assert not before & (1 << 21) and after & (1 << 21)   # CAP_SYS_ADMIN is 21


def test_exec_loads_the_container_seccomp_filter(limpet: Runtime, bundle: Bundle) -> None:
    assert bundle.config["linux"].get("seccomp")
    cid, _ = _running(limpet, bundle)
    result = limpet("exec", cid, "/bin/grep", "^Seccomp:", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Seccomp:", "2"]


def test_exec_process_file_sets_rlimits_and_affinity(limpet: Runtime, bundle: Bundle,
                                                     tmp_path: Path) -> None:
    cid, _ = _running(limpet, bundle)
    process = {"args": ["/bin/sh", "-c", "ulimit -n; ulimit -Hn; grep Cpus_allowed_list "
                        "/proc/self/status; echo $ONLY"],
               "cwd": "/", "env": ["ONLY=from-file", "PATH=/bin"],
               "user": {"uid": 0, "gid": 0},
               "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}],
               "execCPUAffinity": {"initial": "0", "final": "0"}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    result = limpet("exec", "--process", str(path), cid)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["321", "654", "Cpus_allowed_list:", "0", "from-file"]


def test_exec_of_a_missing_program_fails_like_runc(limpet: Runtime, bundle: Bundle) -> None:
    cid, pid = _running(limpet, bundle)
    result = limpet("exec", cid, "no-such-program")
    assert result.returncode != 0
    assert 'exec: "no-such-program": executable file not found in $PATH' in result.stderr
    assert limpet.state(cid)["status"] == "running"
    assert len(_children_in(pid)) == 0


def _children_in(init: int) -> list[int]:
    """Processes other than ``init`` in the pid namespace of ``init``."""
    target = os.readlink(f"/proc/{init}/ns/pid")
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != init:
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == target:
                    found.append(int(name))
            except OSError:
                pass
    return found


def test_exec_with_bad_process_fields_names_them(limpet: Runtime, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    cid, _ = _running(limpet, bundle)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["/bin/true"], "cwd": "relative"}))
    result = limpet("exec", "--process", str(path), cid)
    assert result.returncode != 0
    assert "process.cwd" in result.stderr
    path.write_text(json.dumps({"args": ["/bin/true"], "cwd": "/",
                                "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}))
    result = limpet("exec", "--process", str(path), cid)
    assert "process.rlimits[0].type" in result.stderr
    result = limpet("exec", "-u", "nobody", cid, "/bin/true")
    assert result.returncode != 0 and "--user" in result.stderr


def test_exec_into_stopped_or_paused_containers_fails(limpet: Runtime, bundle: Bundle) -> None:
    cid, pid = _running(limpet, bundle)
    limpet("pause", cid, check=True)
    result = limpet("exec", cid, "/bin/true")
    assert result.returncode != 0 and "paused" in result.stderr
    limpet("resume", cid, check=True)
    limpet("kill", cid, "9", check=True)
    for _ in range(100):
        if limpet.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    result = limpet("exec", cid, "/bin/true")
    assert result.returncode != 0 and "stopped" in result.stderr
    result = limpet("exec", "no-such-container", "/bin/true")
    assert result.returncode != 0 and "no-such-container" in result.stderr


SUBREAPER_EXEC = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1)   # PR_SET_CHILD_SUBREAPER
code = subprocess.call(sys.argv[1:])
pid = int(open(sys.argv[sys.argv.index("--pid-file") + 1]).read())
reaped, status = os.waitpid(pid, 0)
print(code, pid, os.waitstatus_to_exitcode(status))
"""


def test_detached_exec_leaves_the_process_to_the_callers_subreaper(
        limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    cid, pid = _running(limpet, bundle)
    pid_file = tmp_path / "exec.pid"
    proc = subprocess.run(
        [os.environ.get("PYTHON", "/usr/bin/python3"), "-c", SUBREAPER_EXEC, LIMPET,
         "--root", limpet.root, "exec", "-d", "--pid-file", str(pid_file), cid,
         "/bin/sh", "-c", "sleep 0.3; exit 7"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    code, exec_pid, status = proc.stdout.split()
    assert code == "0" and status == "7"
    raw = pid_file.read_text()
    assert raw == exec_pid and not raw.endswith("\n")   # decimal, no newline, as runc


def test_exec_tty_sends_the_pty_master_to_the_console_socket(limpet: Runtime, bundle: Bundle,
                                                              tmp_path: Path) -> None:
    cid, _ = _running(limpet, bundle)
    path = str(tmp_path / "console.sock")
    with console_socket(path) as received:
        result = limpet("exec", "-t", "-d", "--console-socket", path, cid, "/bin/sh", "-c",
                        "tty; sleep 0.2")
    assert result.returncode == 0, result.stderr
    assert len(received) == 1
    output = read_pty(received[0])
    os.close(received[0])
    assert output.decode().strip().startswith("/dev/pts/")


def test_exec_tty_detached_without_a_socket_is_an_error(limpet: Runtime,
                                                        bundle: Bundle) -> None:
    cid, _ = _running(limpet, bundle)
    result = limpet("exec", "-t", "-d", cid, "/bin/true")
    assert result.returncode != 0
    assert "--console-socket" in result.stderr


def test_exec_tty_in_the_foreground_bridges_the_terminal(limpet: Runtime,
                                                         bundle: Bundle) -> None:
    cid, _ = _running(limpet, bundle)
    proc = subprocess.run([LIMPET, "--root", limpet.root, "exec", "-t", cid, "/bin/sh", "-c",
                           "tty; read line; echo got:$line; exit 3"], input="hi\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.replace("\r", "").split("\n")
    assert any(line.startswith("/dev/pts/") for line in lines)
    assert "got:hi" in lines


def test_exec_preserve_fds_passes_extra_descriptors(limpet: Runtime, bundle: Bundle,
                                                    tmp_path: Path) -> None:
    cid, _ = _running(limpet, bundle)
    extra = tmp_path / "extra"
    extra.write_text("passed-through\n")
    script = (f"exec {LIMPET} --root {limpet.root} exec --preserve-fds 1 {cid} "
              f"/bin/sh -c 'cat <&3; ls /proc/self/fd' 3<{extra}")
    proc = subprocess.run(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == "passed-through"
    assert "3" in lines[1:] and "5" not in lines[1:]   # 0-2, 3, and ls's own directory fd


def test_exec_joins_a_user_namespace(limpet: Runtime, bundle: Bundle,
                                     world_readable_rootfs: str, tmp_path: Path) -> None:
    bundle.config["root"]["path"] = world_readable_rootfs
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cid, pid = _running(limpet, bundle)
    result = limpet("exec", "-u", "1000:1000", cid, "/bin/sh", "-c",
                    "readlink /proc/self/ns/user; id -u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [os.readlink(f"/proc/{pid}/ns/user"), "1000"]
    pid_file = tmp_path / "sleep.pid"
    result = limpet("exec", "-d", "-u", "1000:1000", "--pid-file", str(pid_file), cid,
                    "/bin/sleep", "30")
    assert result.returncode == 0, result.stderr
    status = Path(f"/proc/{pid_file.read_text()}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["101000"] * 4   # container uid 1000 on the host


def test_run_passes_socket_activation_fds(limpet: Runtime, bundle: Bundle,
                                          tmp_path: Path) -> None:
    bundle.set_args("/bin/sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3").write()
    extra = tmp_path / "socket"
    extra.write_text("activated\n")
    script = (f"LISTEN_PID=$$ LISTEN_FDS=1 exec {LIMPET} --root {limpet.root} run "
              f"--bundle {bundle.path} act-{uuid.uuid4().hex[:6]} 3<{extra}")
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1", "activated"]


def test_exec_leaves_no_process_behind(limpet: Runtime, bundle: Bundle) -> None:
    cid, pid = _running(limpet, bundle)
    for _ in range(3):
        assert limpet("exec", cid, "/bin/true").returncode == 0
    assert _children_in(pid) == []


def test_exec_uses_the_config_the_container_was_created_with(limpet: Runtime,
                                                             bundle: Bundle) -> None:
    bundle.config["process"]["env"].append("AT_CREATE=1")
    cid, _ = _running(limpet, bundle)
    bundle.config["process"]["env"][-1] = "AT_CREATE=changed"
    bundle.config["process"]["cwd"] = "relative/is/invalid"
    bundle.write()
    result = limpet("exec", cid, "/bin/sh", "-c", "echo $AT_CREATE")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    copy = Path(limpet.root) / cid / "config.json"
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
