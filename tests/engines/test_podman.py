"""podman 4.3 (+conmon) running busybox containers with limpet as its OCI runtime
(``podman --runtime .venv/bin/limpet``), each case also run against runc to prove the test.

One private podman store per module (tests/engines/podman_env.py); every test asserts what
is seen inside the container, and the last one checks that nothing is left behind."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.engines.conftest import LIMPET, RUNC, need, run_in_pty
from tests.engines.podman_env import (
    CGROUP_ROOT,
    IMAGE,
    Podman,
    container_cgroups,
)

pytestmark = pytest.mark.root

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"


@pytest.fixture(scope="module")
def podman(busybox_tar: Path) -> Iterator[Podman]:
    need("podman", "conmon")
    env = Podman(Path(tempfile.mkdtemp(prefix="limpet-podman-")))
    try:
        env.setup(busybox_tar)
        yield env
    finally:
        env.teardown()
    assert not env.mounts(), f"mounts left under {env.base}: {env.mounts()}"


@dataclass
class Engine:
    """podman bound to one runtime; removes the containers it named after the test."""

    podman: Podman
    runtime: str
    label: str
    names: list[str] = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 check: bool = False) -> tuple[int, str, str]:
        proc = self.podman(self.runtime, *args, input=input, timeout=timeout, check=check)
        return proc.returncode, proc.stdout, proc.stderr

    def out(self, *args: str, input: str | None = None) -> str:
        """stdout of a podman command that must succeed."""
        return self(*args, input=input, check=True)[1]

    def name(self) -> str:
        name = f"t-{self.label}-{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        return name

    def detached(self, *args: str, options: tuple[str, ...] = ()) -> str:
        """``podman run -d [options] IMAGE args``; returns the container's name."""
        name = self.name()
        self.out("run", "-d", "--name", name, *options, IMAGE, *args)
        return name

    def inspect(self, name: str, fmt: str) -> str:
        return self.out("inspect", "--format", fmt, name).strip()

    def logs(self, name: str) -> str:
        _, stdout, stderr = self("logs", name, check=True)
        return stdout + stderr

    def cleanup(self) -> None:
        """Remove the test's containers (retried: the runtime binary may be missing for a
        moment while scripts/setup.sh reinstalls it)."""
        for name in self.names:
            for _ in range(10):
                code, _, err = self("rm", "-f", "-t", "0", "--ignore", name)
                if code == 0:
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"podman rm -f {name}: {err}")


@pytest.fixture(params=["runc", "limpet"])
def engine(request: pytest.FixtureRequest, podman: Podman) -> Iterator[Engine]:
    runtime = RUNC if request.param == "runc" else LIMPET
    need(runtime)
    e = Engine(podman, runtime, request.param)
    yield e
    e.cleanup()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def counted(text: str) -> int:
    """The last number a COUNTER container printed (0 if none yet)."""
    numbers = [int(line) for line in text.split() if line.isdigit()]
    return numbers[-1] if numbers else 0


# run: output, exit codes, process settings


def test_run_rm_echo(engine: Engine) -> None:
    name = engine.name()
    assert engine("run", "--rm", "--name", name, IMAGE, "echo", "hello from podman") == \
        (0, "hello from podman\n", "")
    assert name not in engine.out("ps", "-a", "--format", "{{.Names}}").split()


def test_exit_code(engine: Engine) -> None:
    assert engine("run", "--rm", IMAGE, "sh", "-c", "echo before; exit 42")[:2] == \
        (42, "before\n")


def test_missing_binary_is_127(engine: Engine) -> None:
    code, _, err = engine("run", "--rm", IMAGE, "/no/such/binary")
    assert code == 127, err
    assert "no such file or directory" in err or "not found" in err, err


def test_not_executable_is_126(engine: Engine) -> None:
    code, _, err = engine("run", "--rm", IMAGE, "/etc/passwd")
    assert code == 126, err
    assert "permission denied" in err, err


def test_env_workdir_user(engine: Engine) -> None:
    out = engine.out("run", "--rm", "-e", "FOO=bar baz", "-w", "/tmp", "-u", "1000:1000",
                     IMAGE, "sh", "-c", 'echo "$FOO"; pwd; id; grep CapEff /proc/self/status')
    assert out.splitlines() == ["bar baz", "/tmp",
                                "uid=1000(user) gid=1000(user) groups=1000(user)",
                                "CapEff:\t0000000000000000"]


def test_root_default_environment(engine: Engine) -> None:
    out = engine.out("run", "--rm", IMAGE, "sh", "-c", "id; pwd; env")
    lines = out.splitlines()
    assert lines[:2] == ["uid=0(root) gid=0(root)", "/"]
    assert "container=podman" in lines
    assert any(line.startswith("PATH=/usr/local/sbin:") for line in lines)


def test_stdin(engine: Engine) -> None:
    assert engine.out("run", "--rm", "-i", IMAGE, "cat", input="piped\nthrough cat\n") == \
        "piped\nthrough cat\n"
    # without -i the container's stdin is not the caller's
    assert engine.out("run", "--rm", IMAGE, "cat", input="not forwarded\n") == ""


def test_tty(engine: Engine) -> None:
    out = engine.out("run", "--rm", "-t", IMAGE, "tty")
    assert re.fullmatch(r"/dev/pts/\d+\r?\n", out), repr(out)


def test_interactive_tty_from_a_terminal(engine: Engine) -> None:
    """``podman run -it`` from a real terminal: the container's pty has its size."""
    cmd = engine.podman.cmd(engine.runtime, "run", "--rm", "-it", IMAGE,
                            "sh", "-c", "tty; stty size; exit 7")
    code, out = run_in_pty(cmd, engine.podman.env, rows=33, cols=97)
    assert code == 7, out
    assert re.fullmatch(r"/dev/pts/\d+\r\n33 97\r\n", out), repr(out)


def test_read_only(engine: Engine) -> None:
    out = engine.out("run", "--rm", "--read-only", IMAGE, "sh", "-c",
                     "touch /x 2>&1; echo rc=$?; touch /tmp/x && echo tmp-writable")
    assert out.splitlines() == ["touch: /x: Read-only file system", "rc=1", "tmp-writable"]


def test_resource_limits(engine: Engine) -> None:
    name = engine.detached("sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                           "/sys/fs/cgroup/pids/pids.max; echo done; sleep 100",
                           options=("--memory", "64m", "--pids-limit", "50"))
    wait_for("the limits in the logs", lambda: "done" in engine.logs(name))
    assert engine.logs(name).splitlines()[:3] == ["67108864", "50", "done"]
    cgroup = engine.inspect(name, "{{.State.CgroupPath}}").lstrip("/")
    pid = engine.inspect(name, "{{.State.Pid}}")
    memory, pids = CGROUP_ROOT / "memory" / cgroup, CGROUP_ROOT / "pids" / cgroup
    assert (memory / "memory.limit_in_bytes").read_text() == "67108864\n"
    assert (pids / "pids.max").read_text() == "50\n"
    assert pid in (memory / "cgroup.procs").read_text().split()
    assert pid in (pids / "cgroup.procs").read_text().split()


# a detached container: logs, top, pause, stop, kill


def test_detached_logs_and_top(engine: Engine) -> None:
    name = engine.detached("sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 100")
    wait_for("the logs", lambda: "to-stderr" in engine.logs(name))
    _, stdout, stderr = engine("logs", name, check=True)
    assert stdout == "to-stdout\n" and stderr == "to-stderr\n"
    assert engine.inspect(name, "{{.State.Status}}") == "running"
    rows = [line.split(None, 1) for line in engine.out("top", name, "pid", "args").splitlines()]
    assert rows[0] == ["PID", "COMMAND"]
    assert [r[0] for r in rows[1:]] == ["1"] and rows[1][1].strip() == "sleep 100", rows


def test_pause_unpause(engine: Engine) -> None:
    name = engine.detached("sh", "-c", COUNTER)
    wait_for("the counter", lambda: counted(engine.logs(name)) >= 3)
    freezer = (CGROUP_ROOT / "freezer" / engine.inspect(name, "{{.State.CgroupPath}}").lstrip("/")
               / "freezer.state")
    engine.out("pause", name)
    assert engine.inspect(name, "{{.State.Status}}") == "paused"
    assert freezer.read_text().strip() == "FROZEN"
    time.sleep(0.3)
    frozen_at = counted(engine.logs(name))
    time.sleep(1)
    assert counted(engine.logs(name)) == frozen_at, "the counter ran while paused"
    engine.out("unpause", name)
    assert engine.inspect(name, "{{.State.Status}}") == "running"
    assert freezer.read_text().strip() == "THAWED"
    wait_for("the counter to resume", lambda: counted(engine.logs(name)) > frozen_at + 2)


def test_stop_runs_the_term_trap(engine: Engine) -> None:
    name = engine.detached("sh", "-c",
                           f'trap "echo got-TERM; exit 3" TERM; echo started; {COUNTER}')
    wait_for("start", lambda: "started" in engine.logs(name))
    assert engine("stop", "-t", "10", name, timeout=30)[:2] == (0, f"{name}\n")
    assert "got-TERM" in engine.logs(name).split()
    assert engine.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 3"
    assert engine.out("wait", name) == "3\n"


def test_stop_kills_after_the_timeout(engine: Engine) -> None:
    """An init with no TERM handler ignores TERM (pid 1): stop sends KILL after -t."""
    name = engine.detached("sleep", "100")
    started = time.monotonic()
    assert engine("stop", "-t", "1", name, timeout=30)[0] == 0
    assert time.monotonic() - started >= 1
    assert engine.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_kill(engine: Engine) -> None:
    name = engine.detached("sleep", "100")
    assert engine.out("kill", "-s", "KILL", name) == f"{name}\n"
    assert engine.out("wait", name) == "137\n"
    assert engine.inspect(name, "{{.State.ExitCode}}") == "137"


def test_kill_with_a_signal_name(engine: Engine) -> None:
    name = engine.detached("sh", "-c", f'trap "echo got-USR1" USR1; echo started; {COUNTER}')
    wait_for("start", lambda: "started" in engine.logs(name))
    engine.out("kill", "-s", "USR1", name)
    wait_for("the USR1 trap", lambda: "got-USR1" in engine.logs(name).split())
    assert engine.inspect(name, "{{.State.Status}}") == "running"


# exec into a running container


def test_exec_output_and_exit_code(engine: Engine) -> None:
    name = engine.detached("sleep", "100")
    assert engine("exec", name, "sh", "-c", "echo in-exec; cat /proc/1/cmdline; exit 5")[:2] \
        == (5, "in-exec\nsleep\x00100\x00")


def test_exec_env_workdir_user(engine: Engine) -> None:
    name = engine.detached("sleep", "100")
    assert engine.out("exec", "-e", "A=b c", "-w", "/tmp", name, "sh", "-c",
                      'echo "$A"; pwd; id') == "b c\n/tmp\nuid=0(root) gid=0(root)\n"
    out = engine.out("exec", "-u", "1000:1000", name, "sh", "-c",
                     "id -u; id -g; grep CapEff /proc/self/status")
    assert out == "1000\n1000\nCapEff:\t0000000000000000\n"


def test_exec_stdin_and_tty(engine: Engine) -> None:
    name = engine.detached("sleep", "100")
    assert engine.out("exec", "-i", name, "cat", input="into exec\n") == "into exec\n"
    out = engine.out("exec", "-t", name, "tty")
    assert re.fullmatch(r"/dev/pts/\d+\r?\n", out), repr(out)


def test_exec_missing_binary_is_127(engine: Engine) -> None:
    name = engine.detached("sleep", "100")
    code, _, err = engine("exec", name, "/no/such/binary")
    assert code == 127, err
    assert engine.inspect(name, "{{.State.Status}}") == "running"


# nothing left behind (runs last: pytest keeps the file's order)


# volumes


@pytest.fixture
def limpet_engine(podman: Podman) -> Iterator[Engine]:
    """limpet alone, for a case no peer can run here: runc 1.1 predates id-mapped mounts
    and crun refuses this hybrid cgroup host. The case carries its own control instead."""
    need(LIMPET)
    e = Engine(podman, LIMPET, "limpet")
    yield e
    e.cleanup()


def test_idmapped_volume_in_a_user_namespace(limpet_engine: Engine) -> None:
    """``-v SRC:DST:idmap`` with ``--uidmap``: host root's files are the container root's,
    and what the container's root writes is host root's. The same volume mounted without
    ``idmap`` shows them as nobody's (the control; the mapped root must reach it, so the
    volume is not in pytest's 0700 tmp dir)."""
    volume = Path(tempfile.mkdtemp(prefix="limpet-idmap-"))
    volume.chmod(0o755)
    (volume / "file").write_text("host\n")
    code, out, err = limpet_engine(
        "run", "--rm", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536",
        "-v", f"{volume}:/data:idmap", "-v", f"{volume}:/plain", IMAGE, "sh", "-c",
        "stat -c %u:%g /data/file /plain/file; echo new > /data/new")
    try:
        assert code == 0, err
        assert out.split() == ["0:0", "65534:65534"], out
        assert (volume / "new").stat().st_uid == 0
    finally:
        shutil.rmtree(volume)


def test_nothing_left(podman: Podman) -> None:
    proc = podman(RUNC, "ps", "-a", "--format", "{{.ID}} {{.Names}}", check=True)
    assert proc.stdout == ""
    assert podman.limpet_state() == [], "container state left under /run/limpet"
    assert container_cgroups() == []
