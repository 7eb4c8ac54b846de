"""dockerd 20.10 running containers on limpet (``docker run --runtime=limpet``), each scenario
also run on runc to prove the harness. One private dockerd per module (docker_env.py); after
every test no container, shim, runtime state, cgroup or mount may be left.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.engines.conftest import LIMPET, RUNC, need, run
from tests.engines.docker_env import CGROUP_ROOT, DOCKER, DOCKERD, DockerDaemon

pytestmark = pytest.mark.root

IMAGE = "bb"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon(busybox_tar: object) -> Iterator[DockerDaemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    need(DOCKERD, DOCKER, "containerd", "containerd-shim-runc-v2", RUNC, LIMPET)
    daemon = DockerDaemon.start()
    try:
        daemon.docker("import", str(busybox_tar), IMAGE, check=True)
        yield daemon
    finally:
        forced = daemon.stop()
    assert not forced, "dockerd left behind:\n" + "\n".join(forced)


@pytest.fixture(params=["runc", "limpet"])
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docker(daemon: DockerDaemon) -> Iterator[DockerDaemon]:
    """The daemon, checked for leftovers after the test."""
    yield daemon
    daemon.check_clean()


def name() -> str:
    return f"limpet-test-{uuid.uuid4().hex[:10]}"


def wait_for(check: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def inspect(docker: DockerDaemon, container: str, fmt: str) -> str:
    return docker.docker("inspect", "-f", fmt, container, check=True).stdout.strip()


def logs(docker: DockerDaemon, container: str) -> str:
    return docker.docker("logs", container, check=True).stdout


def container_cgroup(docker: DockerDaemon, container: str, controller: str, file: str) -> str:
    cid = inspect(docker, container, "{{.Id}}")
    return (CGROUP_ROOT / controller / "docker" / cid / file).read_text().strip()


def start_detached(docker: DockerDaemon, runtime: str, *args: str) -> str:
    container = name()
    docker.run(runtime, "-d", "--name", container, *args, check=True)
    return container


# --- docker run --------------------------------------------------------------------------

def test_run_rm_prints_output(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", IMAGE, "echo", "hello from docker", check=True)
    assert proc.stdout == "hello from docker\n"


def test_exit_code_propagates(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", IMAGE, "sh", "-c", "exit 42")
    assert proc.returncode == 42, proc.stderr


@pytest.mark.parametrize("command", ["/no/such/binary", "nosuchcommand"])
def test_missing_binary_exits_127(docker: DockerDaemon, runtime: str, command: str) -> None:
    proc = docker.run(runtime, "--rm", IMAGE, command)
    assert proc.returncode == 127, (proc.stdout, proc.stderr)
    assert ("no such file or directory" in proc.stderr
            or "executable file not found" in proc.stderr), proc.stderr


def test_not_executable_exits_126(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", IMAGE, "/etc/passwd")
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert "permission denied" in proc.stderr, proc.stderr


def test_env_workdir_and_user(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "-e", "GREETING=hi there", "-w", "/tmp",
                      "-u", "1000:1000", IMAGE, "sh", "-c", 'echo "$GREETING"; pwd; id',
                      check=True)
    assert proc.stdout.splitlines() == ["hi there", "/tmp",
                                        "uid=1000(user) gid=1000(user) groups=1000(user)"]


def test_stdin_is_piped(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "-i", IMAGE, "cat", input="line one\nline two\n",
                      check=True)
    assert proc.stdout == "line one\nline two\n"


def test_tty_gets_a_terminal(docker: DockerDaemon, runtime: str) -> None:
    status, output = docker.docker_pty(
        *docker.run_args(runtime, "--rm", "-t", IMAGE, "sh", "-c",
                         "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty"))
    assert status == 0, output
    lines = output.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/"), output
    assert "stdio-is-a-tty" in lines, output


def test_read_only_rootfs_with_a_tmpfs(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--read-only", "--tmpfs", "/run:size=1m", IMAGE,
                      "sh", "-c", "touch /probe 2>&1; echo rc=$?; touch /run/probe && "
                      "echo tmpfs-writable; grep -E ' /(run)? ' /proc/mounts", check=True)
    lines = proc.stdout.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1:3] == ["rc=1", "tmpfs-writable"], lines
    mounts = {line.split()[1]: line.split()[3].split(",") for line in lines[3:]}
    assert "ro" in mounts["/"], lines
    assert "rw" in mounts["/run"] and "size=1024k" in mounts["/run"], lines


def test_bind_mounts_and_volumes(docker: DockerDaemon, runtime: str) -> None:
    host = docker.base / f"host-{uuid.uuid4().hex[:8]}"
    host.mkdir()
    (host / "from-host").write_text("host data\n")
    volume = name()
    try:
        proc = docker.run(
            runtime, "--rm", "-v", f"{host}:/rw", "-v", f"{host}:/ro:ro",
            "-v", f"{volume}:/vol", IMAGE, "sh", "-c",
            "cat /rw/from-host; echo from-container > /rw/out; touch /ro/x 2>&1;"
            " echo in-volume > /vol/file", check=True)
        assert proc.stdout.splitlines() == ["host data",
                                            "touch: /ro/x: Read-only file system"]
        assert (host / "out").read_text() == "from-container\n"
        proc = docker.run(runtime, "--rm", "-v", f"{volume}:/vol", IMAGE, "cat", "/vol/file",
                          check=True)
        assert proc.stdout == "in-volume\n"
    finally:
        docker.docker("volume", "rm", "-f", volume)


def test_init_runs_as_pid_1(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--init", IMAGE, "sh", "-c",
                      "tr '\\0' ' ' < /proc/1/cmdline", check=True)
    assert proc.stdout.startswith("/sbin/docker-init -- sh -c"), proc.stdout


def test_capabilities_seccomp_and_no_new_privileges(docker: DockerDaemon,
                                                    runtime: str) -> None:
    status = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
    proc = docker.run(runtime, "--rm", IMAGE, "sh", "-c", status, check=True)
    # docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
    # net_bind_service net_raw sys_chroot mknod audit_write setfcap
    assert proc.stdout.split() == ["CapEff:", "00000000a80425fb", "CapBnd:", "00000000a80425fb",
                                   "NoNewPrivs:", "0", "Seccomp:", "2"]
    proc = docker.run(runtime, "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
                      "--security-opt", "no-new-privileges",
                      "--security-opt", "seccomp=unconfined", IMAGE, "sh", "-c", status,
                      check=True)
    assert proc.stdout.split() == ["CapEff:", "0000000000001000", "CapBnd:", "0000000000001000",
                                   "NoNewPrivs:", "1", "Seccomp:", "0"]


def test_ulimits_sysctls_shm_and_hostname(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--ulimit", "nofile=1024:2048",
                      "--sysctl", "kernel.shmmax=123456", "--shm-size", "2m",
                      "--hostname", "box1", "--add-host", "db.test:10.1.2.3", IMAGE, "sh", "-c",
                      "ulimit -n; ulimit -Hn; cat /proc/sys/kernel/shmmax; hostname;"
                      " grep db.test /etc/hosts; grep ' /dev/shm ' /proc/mounts", check=True)
    lines = proc.stdout.splitlines()
    assert lines[:5] == ["1024", "2048", "123456", "box1", "10.1.2.3\tdb.test"], lines
    assert "size=2048k" in lines[5], lines


def test_cpu_limits_at_run(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--cpus", "0.5", "--cpu-shares", "512",
                      "--cpuset-cpus", "0", IMAGE, "cat",
                      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
                      "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpuset/cpuset.cpus",
                      check=True)
    assert proc.stdout.split() == ["50000", "100000", "512", "0"]


def test_device_is_added(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--device", "/dev/null:/dev/mynull", IMAGE, "sh", "-c",
                      "stat -c '%F %t:%T' /dev/mynull; echo x > /dev/mynull && echo writable;"
                      " mknod /tmp/disk b 7 0 && head -c1 /tmp/disk 2>&1", check=False)
    # the device cgroup allows the added device but not a loop device made with mknod
    assert proc.stdout.splitlines() == ["character special file 1:3", "writable",
                                        "head: /tmp/disk: Operation not permitted"], proc.stdout


def test_oom_kill_is_reported(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, "--memory", "16m", "--memory-swap", "16m",
                               IMAGE, "sh", "-c", "x=a; while :; do x=$x$x; done")
    assert docker.docker("wait", container, check=True).stdout.strip() == "137"
    assert inspect(docker, container, "{{.State.OOMKilled}} {{.State.ExitCode}}") == \
        "true 137"


def test_memory_and_pids_limits_at_run(docker: DockerDaemon, runtime: str) -> None:
    proc = docker.run(runtime, "--rm", "--memory", "64m", "--pids-limit", "50", IMAGE,
                      "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                      "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
                      "/sys/fs/cgroup/pids/pids.max", check=True)
    # docker sets memory-swap to twice the memory limit when it is not given
    assert proc.stdout.split() == [str(64 * MiB), str(128 * MiB), "50"]


# --- detached containers -----------------------------------------------------------------

def test_logs_show_stdout_and_stderr(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, IMAGE, "sh", "-c",
                               "echo to-stdout; echo to-stderr >&2; exec sleep 300")
    def both_streams() -> bool:
        proc = docker.docker("logs", container, check=True)
        return bool(proc.stdout and proc.stderr)

    wait_for(both_streams, what="both streams in the logs")   # copied separately
    proc = docker.docker("logs", container, check=True)
    assert (proc.stdout, proc.stderr) == ("to-stdout\n", "to-stderr\n")


def test_top_lists_container_processes(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, IMAGE, "sleep", "300")
    pid = inspect(docker, container, "{{.State.Pid}}")
    top = docker.docker("top", container, check=True).stdout.splitlines()
    assert top[0].split()[:2] == ["UID", "PID"], top
    assert [line.split()[1] for line in top[1:]] == [pid], top
    assert top[1].endswith("sleep 300"), top


def test_pause_freezes_and_unpause_resumes(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, IMAGE, "sh", "-c",
                               "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done")
    wait_for(lambda: len(logs(docker, container).split()) > 2, what="counter output")
    docker.docker("pause", container, check=True)
    assert inspect(docker, container, "{{.State.Status}}") == "paused"
    assert container_cgroup(docker, container, "freezer", "freezer.state") == "FROZEN"
    time.sleep(0.3)   # lines written just before the freeze may still be on their way
    frozen = len(logs(docker, container).split())
    time.sleep(0.5)
    assert len(logs(docker, container).split()) == frozen, "counter ran while paused"
    docker.docker("unpause", container, check=True)
    assert inspect(docker, container, "{{.State.Status}}") == "running"
    assert container_cgroup(docker, container, "freezer", "freezer.state") == "THAWED"
    wait_for(lambda: len(logs(docker, container).split()) > frozen + 2,
             what="counter after unpause")


def test_update_memory_seen_inside(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(
        docker, runtime, IMAGE, "sh", "-c",
        "while :; do cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
        " /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes | tr '\\n' ' '; echo;"
        " sleep 0.1; done")
    wait_for(lambda: bool(logs(docker, container).strip()), what="first limits line")
    docker.docker("update", "--memory", "128m", "--memory-swap", "256m", container,
                  check=True)
    assert container_cgroup(docker, container, "memory", "memory.limit_in_bytes") == \
        str(128 * MiB)
    assert container_cgroup(docker, container, "memory", "memory.memsw.limit_in_bytes") == \
        str(256 * MiB)
    wanted = f"{128 * MiB} {256 * MiB}"
    wait_for(lambda: logs(docker, container).splitlines()[-1].strip() == wanted,
             what=f"the container to see {wanted}")
    assert inspect(docker, container, "{{.HostConfig.Memory}}") == str(128 * MiB)


def test_stop_sends_term_to_the_container(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(
        docker, runtime, IMAGE, "sh", "-c",
        "trap 'echo got-sigterm; exit 0' TERM; echo ready; while :; do sleep 0.1; done")
    wait_for(lambda: "ready" in logs(docker, container), what="ready")
    started = time.monotonic()
    docker.docker("stop", "-t", "20", container, check=True)
    assert time.monotonic() - started < 15, "stop waited for the timeout: TERM was lost"
    assert logs(docker, container).split() == ["ready", "got-sigterm"]
    assert inspect(docker, container, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"


def test_kill_exits_137(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, IMAGE, "sleep", "300")
    docker.docker("kill", container, check=True)
    assert docker.docker("wait", container, check=True).stdout.strip() == "137"
    assert inspect(docker, container, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_kill_with_signal_reaches_the_trap(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(
        docker, runtime, IMAGE, "sh", "-c",
        "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done")
    wait_for(lambda: "ready" in logs(docker, container), what="ready")
    docker.docker("kill", "-s", "USR1", container, check=True)
    wait_for(lambda: "got-usr1" in logs(docker, container), what="the USR1 trap")
    assert inspect(docker, container, "{{.State.Status}}") == "running"


def test_restart_runs_the_container_again(docker: DockerDaemon, runtime: str) -> None:
    container = start_detached(docker, runtime, IMAGE, "sh", "-c", "echo started; sleep 300")
    wait_for(lambda: logs(docker, container).split() == ["started"], what="first start")
    docker.docker("restart", "-t", "1", container, check=True)
    wait_for(lambda: logs(docker, container).split() == ["started", "started"],
             what="second start")
    assert inspect(docker, container, "{{.State.Status}}") == "running"


# --- docker exec -------------------------------------------------------------------------

@pytest.fixture
def sleeper(docker: DockerDaemon, runtime: str) -> str:
    return start_detached(docker, runtime, IMAGE, "sleep", "300")


def test_exec_output_and_exit_code(docker: DockerDaemon, sleeper: str) -> None:
    proc = docker.docker("exec", sleeper, "sh", "-c", "echo exec-out; echo exec-err >&2")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "exec-out\n", "exec-err\n")
    assert docker.docker("exec", sleeper, "sh", "-c", "exit 7").returncode == 7


def test_exec_joins_the_container(docker: DockerDaemon, sleeper: str) -> None:
    proc = docker.docker("exec", sleeper, "sh", "-c",
                         "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname", check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].strip() == "sleep 300"
    assert lines[1] == inspect(docker, sleeper, "{{.Config.Hostname}}")


def test_exec_env_workdir_and_user(docker: DockerDaemon, sleeper: str) -> None:
    proc = docker.docker("exec", "-e", "IN_EXEC=yes", "-w", "/home/user", "-u", "1000:1000",
                         sleeper, "sh", "-c", 'echo "$IN_EXEC"; pwd; id', check=True)
    assert proc.stdout.splitlines() == ["yes", "/home/user",
                                        "uid=1000(user) gid=1000(user) groups=1000(user)"]


def test_exec_stdin(docker: DockerDaemon, sleeper: str) -> None:
    proc = docker.docker("exec", "-i", sleeper, "cat", input="via exec\n", check=True)
    assert proc.stdout == "via exec\n"


def test_exec_tty(docker: DockerDaemon, sleeper: str) -> None:
    status, output = docker.docker_pty("exec", "-t", sleeper, "sh", "-c",
                                       "tty; [ -t 1 ] && echo stdout-is-a-tty")
    assert status == 0, output
    lines = output.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/"), output
    assert "stdout-is-a-tty" in lines, output


def test_exec_missing_binary_reports_the_error(docker: DockerDaemon, sleeper: str) -> None:
    proc = docker.docker("exec", sleeper, "/no/such/binary")
    # dockerd 20.10 maps every failed exec start to 126 (only `run` maps 127), and the
    # client prints the runtime's error on stdout
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert "no such file or directory" in proc.stdout + proc.stderr, (proc.stdout, proc.stderr)


def test_exec_process_is_killed_with_the_container(docker: DockerDaemon, sleeper: str) -> None:
    docker.docker("exec", "-d", sleeper, "sleep", "301", check=True)
    wait_for(lambda: "sleep 301" in docker.docker("top", sleeper).stdout, what="exec in top")
    docker.docker("kill", sleeper, check=True)
    assert docker.docker("wait", sleeper, check=True).stdout.strip() == "137"


def test_the_requested_runtime_owns_the_container(docker: DockerDaemon, sleeper: str,
                                                  runtime: str) -> None:
    cid = inspect(docker, sleeper, "{{.Id}}")
    assert inspect(docker, sleeper, "{{.HostConfig.Runtime}}") == runtime
    binary = {"runc": RUNC, "limpet": LIMPET}[runtime]
    proc = run([binary, "--root", str(docker.runtime_root), "state", cid], timeout=30,
               check=True)
    state = json.loads(proc.stdout)
    assert (state["status"], str(state["pid"])) == \
        ("running", inspect(docker, sleeper, "{{.State.Pid}}"))
