"""Rootless podman (an unprivileged user, ``nobody``, with a subordinate id range) running
busybox containers with limpet as its OCI runtime, each case also run against runc to prove
the test. podman calls the runtime as root of its own user namespace, without ``--root``:
limpet must see that it is rootless, keep its state in $XDG_RUNTIME_DIR/limpet, make no
cgroup (podman sends no limits on cgroup v1) and bind device nodes rather than mknod them.

The module adds ``nobody:200000:65536`` to /etc/subuid and /etc/subgid and restores both
files afterwards; the last test checks that nothing is left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.engines.conftest import LIMPET, RUNC, need

pytestmark = pytest.mark.root

NOBODY = 65534
FIRST, COUNT = 200000, 65536
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))
IMAGE = "localhost/bb"
CONF = """\
[containers]
netns = "none"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["crun", "runc", "limpet"]
"""


@dataclass
class RootlessPodman:
    """podman run by nobody, with its home, runtime dir and store under ``top``."""

    top: Path

    @property
    def runtime_dir(self) -> Path:
        return self.top / "run"

    def __call__(self, *args: str, runtime: str | None = None,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.top / "home"),
               "XDG_RUNTIME_DIR": str(self.runtime_dir),
               "CONTAINERS_CONF": str(self.top / "containers.conf"), "USER": "nobody",
               "LIMPET_CONFIG": "/nonexistent/limpet-test-config.yaml"}
        flags = ["--root", str(self.top / "storage"), "--runroot", str(self.top / "runroot"),
                 "--storage-driver", "vfs"]
        if runtime:
            flags += ["--runtime", runtime]
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               "podman", *flags, *args]
        proc = subprocess.run(cmd, cwd=self.top, env=env, capture_output=True, text=True,
                              timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {proc.returncode}\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def stop_pause_process(self) -> None:
        """Rootless podman keeps a pause process holding its user namespace."""
        pid_file = self.runtime_dir / "libpod" / "tmp" / "pause.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), 9)
            except (ProcessLookupError, ValueError):
                pass


def _users_processes() -> list[str]:
    """Live processes of nobody or of the subordinate range (a leftover of a test). Zombies
    are dead already: orphans wait there for this machine's PID 1, which reaps lazily."""
    out = subprocess.run(["ps", "-eo", "uid=,stat=,pid=,args="], capture_output=True,
                         text=True, check=True).stdout
    left = []
    for line in out.splitlines():
        uid, state = int(line.split()[0]), line.split()[1]
        if (uid == NOBODY or FIRST <= uid < FIRST + COUNT) and not state.startswith("Z"):
            left.append(line)
    return left


@pytest.fixture(scope="module")
def podman(busybox_tar: Path) -> Iterator[RootlessPodman]:
    need("podman", "conmon", "newuidmap", "newgidmap", "setpriv")
    before = {path: path.read_bytes() if path.exists() else None for path in SUBID_FILES}
    top = Path(tempfile.mkdtemp(prefix="limpet-rootless-podman-"))
    env = RootlessPodman(top)
    try:
        os.chmod(top, 0o755)
        (top / "home").mkdir()
        env.runtime_dir.mkdir(mode=0o700)
        (top / "containers.conf").write_text(CONF)
        shutil.copy(busybox_tar, top / "image.tar")
        for path in (top, *top.rglob("*")):
            os.chown(path, NOBODY, NOBODY)
        for path in SUBID_FILES:
            with path.open("a") as f:
                f.write(f"nobody:{FIRST}:{COUNT}\n")
        env("import", str(top / "image.tar"), IMAGE, check=True)
        yield env
    finally:
        env("rm", "--all", "--force", "--time", "0")
        env.stop_pause_process()
        for path, content in before.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        shutil.rmtree(top, ignore_errors=True)


@dataclass
class Engine:
    podman: RootlessPodman
    runtime: str
    names: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.podman(*args, runtime=self.runtime, check=check)

    def name(self) -> str:
        self.names.append(f"t-{uuid.uuid4().hex[:8]}")
        return self.names[-1]


@pytest.fixture(params=["runc", "limpet"])
def engine(request: pytest.FixtureRequest, podman: RootlessPodman) -> Iterator[Engine]:
    runtime = RUNC if request.param == "runc" else LIMPET
    need(runtime)
    e = Engine(podman, runtime)
    yield e
    for name in e.names:
        e("rm", "--force", "--time", "0", "--ignore", name)


def test_rootless_run_maps_root_to_the_user(engine: Engine) -> None:
    proc = engine("run", "--rm", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert lines == [["0"], ["0", str(NOBODY), "1"], ["1", str(FIRST), str(COUNT)]]


def test_rootless_detached_exec_stop_rm(engine: Engine) -> None:
    name = engine.name()
    engine("run", "-d", "--name", name, IMAGE, "sleep", "300", check=True)
    proc = engine("exec", name, "sh", "-c", "echo exec-ok; id -u")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["exec-ok", "0"]
    status = engine("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
    assert status.startswith("Up"), status
    assert engine("stop", "--time", "1", name).returncode == 0
    assert engine("rm", name).returncode == 0
    if engine.runtime == LIMPET:   # the state was under $XDG_RUNTIME_DIR/limpet, and is gone
        state = engine.podman.runtime_dir / "limpet"
        assert state.is_dir()
        assert [p.name for p in state.iterdir() if not p.name.startswith("@")] == []


def test_rootless_files_written_belong_to_the_subordinate_ids(engine: Engine) -> None:
    """A file that uid 1 of the container writes to a volume is uid 200000 on the host."""
    volume = engine.podman.top / f"volume-{uuid.uuid4().hex[:6]}"
    volume.mkdir(mode=0o777)
    volume.chmod(0o777)
    proc = engine("run", "--rm", "--user", "1:1", "-v", f"{volume}:/data", IMAGE,
                  "sh", "-c", "echo x > /data/f")
    assert proc.returncode == 0, proc.stderr
    st = (volume / "f").stat()
    assert (st.st_uid, st.st_gid) == (FIRST, FIRST)


def test_nothing_left(podman: RootlessPodman) -> None:
    podman("rm", "--all", "--force", "--time", "0")
    podman.stop_pause_process()
    left = _users_processes()
    assert left == [], left
