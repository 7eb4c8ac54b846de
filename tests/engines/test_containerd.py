"""containerd 1.6 through ctr, with the runc v2 shim pointed at limpet (``--runc-binary``),
and at runc for reference: run, exit codes, env/cwd/user, stdin, tty, read-only rootfs,
detached tasks with exec, ps, pause/resume, kill, and resource limits in the cgroup.

Every case leaves nothing behind: no task, container, runtime state or cgroup.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engines.conftest import LIMPET, RUNC, need, run, run_in_pty
from tests.engines.containerd_env import (
    CONTAINERD,
    CTR,
    Containerd,
    cgroup_dirs,
    oci_archive,
    remove_cgroups,
    unique,
)

pytestmark = pytest.mark.root

IMAGE = "docker.io/library/limpet-bb:latest"
RUNTIMES = {"runc": RUNC, "limpet": LIMPET}


@pytest.fixture(scope="module")
def ctrd(busybox_tar: Path) -> Iterator[Containerd]:
    need(CONTAINERD, CTR)
    daemon = Containerd.start(LIMPET, RUNC)
    try:
        archive = oci_archive(daemon.tmp / "bb.tar", busybox_tar, IMAGE, cmd=["/bin/sh"])
        daemon.import_image(archive, daemon.ns)
        rootfs = daemon.tmp / "rootfs"
        rootfs.mkdir()
        with tarfile.open(busybox_tar) as tar:
            tar.extractall(rootfs)   # noqa: S202 (our own archive)
        yield daemon
    finally:
        daemon.stop()


@dataclass
class Ctr:
    """ctr bound to one containerd namespace and one runc-compatible binary."""

    daemon: Containerd
    ns: str
    name: str
    binary: str

    @property
    def runtime_root(self) -> Path:
        return self.daemon.tmp / f"runtime-root-{self.name}"

    def __call__(self, *args: str, timeout: float = 60,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.daemon.ctr(*args, namespace=self.ns, timeout=timeout, input=input)

    def run_args(self, *flags: str) -> list[str]:
        return ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary", self.binary,
                "--runc-root", str(self.runtime_root), "--fifo-dir",
                str(self.daemon.tmp / "fifo"), *flags]

    def run(self, *flags: str, cid: str, cmd: list[str], timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self(*self.run_args("--rm", *flags), IMAGE, cid, *cmd, timeout=timeout,
                    input=input)

    def full_cmd(self, *args: str) -> list[str]:
        return [CTR, "-a", self.daemon.sock, "-n", self.ns, *args]

    def tasks(self) -> dict[str, tuple[int, str]]:
        """task id -> (pid, status) from ``ctr task ls``."""
        out = self("tasks", "ls").stdout.splitlines()[1:]
        return {f[0]: (int(f[1]), f[2]) for f in (line.split() for line in out) if len(f) >= 3}

    def wait_status(self, cid: str, status: str, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.tasks().get(cid)
            if task and task[1] == status:
                return task[0]
            time.sleep(0.05)
        raise AssertionError(f"task {cid} not {status} within {timeout}s: {self.tasks()}\n"
                             f"{self.daemon.log_tail(2000)}")

    def remove(self, cid: str) -> None:
        if cid in self.tasks():
            self("tasks", "kill", "-s", "SIGKILL", cid)
            with contextlib.suppress(AssertionError):
                self.wait_status(cid, "STOPPED", timeout=10)
            self("tasks", "rm", "-f", cid)
        self("containers", "rm", cid)

    def leftovers(self) -> list[str]:
        found = [f"task {t}" for t in self.tasks()]
        found += [f"container {c}" for c in self("containers", "ls", "-q").stdout.split()]
        state = self.runtime_root / self.ns
        if state.is_dir():
            found += [f"runtime state {state / n}" for n in os.listdir(state)
                      if not n.startswith("@")]
        for top in cgroup_dirs(f"/{self.ns}"):
            found += [f"cgroup {top / n}" for n in os.listdir(top) if (top / n).is_dir()]
        return found


@pytest.fixture(params=sorted(RUNTIMES))
def ctr(request: pytest.FixtureRequest, ctrd: Containerd) -> Iterator[Ctr]:
    need(RUNTIMES[request.param])
    client = Ctr(ctrd, ctrd.ns, request.param, RUNTIMES[request.param])
    yield client
    left = client.leftovers()
    for entry in left:   # clean by force so the next case starts clean, then report
        if entry.startswith(("task ", "container ")):
            client.remove(entry.split()[1])
    for top in cgroup_dirs(f"/{client.ns}"):
        for child in os.listdir(top):
            remove_cgroups(f"/{client.ns}/{child}")
    assert not left, f"{client.name} left behind: {left}"


def test_run_rm_echo(ctr: Ctr) -> None:
    proc = ctr.run(cid=unique("echo"), cmd=["echo", "hello from ctr"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from ctr\n"


def test_exit_code_propagates(ctr: Ctr) -> None:
    proc = ctr.run(cid=unique("exit"), cmd=["sh", "-c", "exit 42"])
    assert proc.returncode == 42, proc.stderr


def test_missing_binary(ctr: Ctr) -> None:
    proc = ctr.run(cid=unique("missing"), cmd=["/no/such/binary"])
    assert proc.returncode != 0
    message = proc.stderr.lower()
    assert "/no/such/binary" in proc.stderr, proc.stderr
    assert "no such file or directory" in message or "not found" in message, proc.stderr


def test_env_and_cwd(ctr: Ctr) -> None:
    proc = ctr.run("--env", "GREETING=hi there", "--cwd", "/tmp", cid=unique("env"),
                   cmd=["sh", "-c", 'echo "$GREETING"; pwd; echo "$PATH"'])
    assert proc.returncode == 0, proc.stderr
    greeting, cwd, path = proc.stdout.splitlines()
    assert (greeting, cwd) == ("hi there", "/tmp")
    assert "/bin" in path.split(":")   # from the image config's Env


def test_stdin(ctr: Ctr) -> None:
    # ctr 1.6 never closes the task's stdin on EOF, so read one line rather than cat
    proc = ctr.run(cid=unique("stdin"), cmd=["sh", "-c", 'read line; echo "got:$line"'],
                   input="from stdin\n", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "got:from stdin\n"


def test_tty(ctr: Ctr) -> None:
    cmd = ctr.full_cmd(*ctr.run_args("--rm", "-t"), IMAGE, unique("tty"), "sh", "-c",
                       "test -t 0 && test -t 1 && echo TTY-OK; tty")
    status, output = run_in_pty(cmd, timeout=60)
    assert status == 0, output
    assert "TTY-OK" in output
    assert "/dev/pts/" in output or "/dev/console" in output, output


def test_read_only_rootfs(ctr: Ctr) -> None:
    proc = ctr.run("--read-only", cid=unique("ro"),
                   cmd=["sh", "-c", "touch /x 2>&1; echo rc=$?; grep ' / ' /proc/mounts"])
    assert proc.returncode == 0, proc.stderr
    assert "Read-only file system" in proc.stdout
    assert "rc=1" in proc.stdout
    root_mount = proc.stdout.strip().splitlines()[-1].split()
    assert "ro" in root_mount[3].split(","), proc.stdout


def _spec(ctr: Ctr, cid: str, args: list[str]) -> Path:
    """A full OCI spec for ``ctr run --config`` (from ``ctr oci spec``): the unpacked busybox
    rootfs read-only, user 1000:1000, pids limit 42, cgroup /<ns>/<id>."""
    spec = json.loads(ctr("oci", "spec").stdout)
    spec["root"] = {"path": str(ctr.daemon.tmp / "rootfs"), "readonly": True}
    spec["process"]["args"] = args
    spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    spec["process"]["env"] = ["PATH=/bin:/usr/bin", "HOME=/home/user"]
    spec["linux"]["cgroupsPath"] = f"/{ctr.ns}/{cid}"
    spec["linux"].setdefault("resources", {})["pids"] = {"limit": 42}
    path = ctr.daemon.tmp / f"{cid}.json"
    path.write_text(json.dumps(spec))
    return path


def test_spec_file_user_and_readonly(ctr: Ctr) -> None:
    cid = unique("spec")
    spec = _spec(ctr, cid, ["sh", "-c", "id -u; id -g; touch /x 2>&1; echo rc=$?"])
    try:
        proc = ctr(*ctr.run_args("--rm", "--config", str(spec)), cid)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[:2] == ["1000", "1000"]
        assert "rc=1" in lines
        assert not (ctr.daemon.tmp / "rootfs" / "x").exists()
    finally:
        spec.unlink()


def test_pids_limit_from_spec(ctr: Ctr) -> None:
    cid = unique("pids")
    spec = _spec(ctr, cid, ["sh", "-c", "while :; do sleep 0.1; done"])
    try:
        proc = ctr(*ctr.run_args("-d", "--null-io", "--config", str(spec)), cid)
        assert proc.returncode == 0, proc.stderr
        pid = ctr.wait_status(cid, "RUNNING")
        line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                    if x.split(":")[1] == "pids")
        assert line.split(":")[2] == f"/{ctr.ns}/{cid}"
        assert Path(f"/sys/fs/cgroup/pids/{ctr.ns}/{cid}/pids.max").read_text() == "42\n"
    finally:
        ctr.remove(cid)
        spec.unlink()


def test_memory_limit(ctr: Ctr) -> None:
    cid = unique("mem")
    limit = 64 * 1024 * 1024
    proc = ctr(*ctr.run_args("-d", "--null-io", "--memory-limit", str(limit)), IMAGE, cid,
               "sh", "-c", "while :; do sleep 0.1; done")
    try:
        assert proc.returncode == 0, proc.stderr
        pid = ctr.wait_status(cid, "RUNNING")
        line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                    if x.split(":")[1] == "memory")
        assert line.split(":")[2] == f"/{ctr.ns}/{cid}"
        limit_file = Path(f"/sys/fs/cgroup/memory/{ctr.ns}/{cid}/memory.limit_in_bytes")
        assert int(limit_file.read_text()) == limit
    finally:
        ctr.remove(cid)


@pytest.fixture
def task(ctr: Ctr) -> Iterator[tuple[str, Path]]:
    """A detached container whose TERM trap writes /out/marker (a host dir)."""
    cid = unique("task")
    out = ctr.daemon.tmp / cid
    out.mkdir()
    script = ('trap "echo got-term > /out/marker; exit 0" TERM; echo up > /out/ready; '
              "while :; do sleep 0.1; done")
    proc = ctr(*ctr.run_args("-d", "--null-io", "--mount",
                             f"type=bind,src={out},dst=/out,options=rbind:rw"),
               IMAGE, cid, "sh", "-c", script)
    try:
        assert proc.returncode == 0, proc.stderr
        ctr.wait_status(cid, "RUNNING")
        deadline = time.monotonic() + 20
        while not (out / "ready").exists():
            assert time.monotonic() < deadline, "container never wrote /out/ready"
            time.sleep(0.05)
        yield cid, out
    finally:
        ctr.remove(cid)
        for f in out.iterdir():
            f.unlink()
        out.rmdir()


def test_exec_output_and_exit_code(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, _ = task
    proc = ctr("tasks", "exec", "--exec-id", "e1", cid, "sh", "-c",
               "echo in-exec; cat /out/ready; id -u")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["in-exec", "up", "0"]
    proc = ctr("tasks", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 7")
    assert proc.returncode == 7, proc.stderr


def test_exec_user_and_cwd(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, _ = task
    proc = ctr("tasks", "exec", "--exec-id", "u1", "--user", "1000:1000", "--cwd", "/tmp",
               cid, "sh", "-c", "id -u; id -g; pwd")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["1000", "1000", "/tmp"]


def test_exec_tty(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, _ = task
    status, output = run_in_pty(ctr.full_cmd("tasks", "exec", "-t", "--exec-id", "t1", cid,
                                             "sh", "-c", "test -t 0 && test -t 1 && echo "
                                             "EXEC-TTY; tty"), timeout=60)
    assert status == 0, output
    assert "EXEC-TTY" in output
    assert "/dev/pts/" in output, output


def test_task_ps(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, _ = task
    pid = ctr.tasks()[cid][0]
    proc = ctr("tasks", "ps", cid)
    assert proc.returncode == 0, proc.stderr
    pids = {int(line.split()[0]) for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert pid in pids, proc.stdout
    for p in pids:   # every listed pid is in the container's cgroup
        with contextlib.suppress(FileNotFoundError):   # a short-lived sleep may be gone
            assert f"/{ctr.ns}/{cid}" in Path(f"/proc/{p}/cgroup").read_text()


def test_pause_resume(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, _ = task
    freezer = Path(f"/sys/fs/cgroup/freezer/{ctr.ns}/{cid}/freezer.state")
    proc = ctr("tasks", "pause", cid)
    assert proc.returncode == 0, proc.stderr
    ctr.wait_status(cid, "PAUSED")
    assert freezer.read_text().strip() == "FROZEN"
    proc = ctr("tasks", "resume", cid)
    assert proc.returncode == 0, proc.stderr
    ctr.wait_status(cid, "RUNNING")
    assert freezer.read_text().strip() == "THAWED"


def test_kill_sigterm_reaches_process(ctr: Ctr, task: tuple[str, Path]) -> None:
    cid, out = task
    proc = ctr("tasks", "kill", cid)   # SIGTERM by default
    assert proc.returncode == 0, proc.stderr
    ctr.wait_status(cid, "STOPPED")
    assert (out / "marker").read_text() == "got-term\n"


def test_kill_sigkill_exit_137(ctr: Ctr) -> None:
    cid = unique("kill9")
    cmd = ctr.full_cmd(*ctr.run_args("--rm"), IMAGE, cid, "sh", "-c",
                       "while :; do sleep 0.1; done")
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as fg:
        try:
            ctr.wait_status(cid, "RUNNING")
            proc = ctr("tasks", "kill", "-s", "SIGKILL", cid)
            assert proc.returncode == 0, proc.stderr
            _, stderr = fg.communicate(timeout=30)
            assert fg.returncode == 137, stderr
        finally:
            if fg.poll() is None:
                fg.kill()
                fg.communicate(timeout=10)
                ctr.remove(cid)


def test_task_state_is_the_runtimes(ctr: Ctr, task: tuple[str, Path]) -> None:
    """The shim really ran ``--runc-binary`` with ``--runc-root``: that binary reports the
    task from that root (runc's own state.json format has init_process_pid)."""
    cid, _ = task
    root = ctr.runtime_root / ctr.ns
    shown = run([ctr.binary, "--root", str(root), "state", cid], timeout=30, check=True)
    state = json.loads(shown.stdout)
    assert (state["status"], state["pid"]) == ("running", ctr.tasks()[cid][0])
    runc_format = "init_process_pid" in json.loads((root / cid / "state.json").read_text())
    assert runc_format == (ctr.name == "runc")
