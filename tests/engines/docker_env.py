"""A private dockerd for the engine tests: its own daemon.json, data-root, exec-root, pidfile
and socket under a temp dir, limpet registered as a runtime, and checks that every container
it ran left nothing behind (shims, runtime state, cgroups, mounts).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.engines.conftest import LIMPET, run, run_in_pty

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"   # Debian's 20.10 client; /usr/local/bin/docker is a newer one
CGROUP_ROOT = Path("/sys/fs/cgroup")
BASE_FLAGS = ["--network", "none", "--pull", "never"]


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below ``prefix``, deepest last (as /proc/self/mountinfo lists them)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == str(prefix) or point.startswith(f"{prefix}/"):
                found.append(point)
    return found


def processes_mentioning(text: str) -> dict[int, str]:
    """Pid -> command line of every process whose command line contains ``text``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if text in cmdline:
            found[int(entry)] = cmdline
    return found


@dataclass
class DockerDaemon:
    """dockerd (with its own containerd) confined to ``base``."""

    base: Path
    proc: subprocess.Popen[bytes] | None = None
    container_ids: set[str] = field(default_factory=set)
    created_cgroup_parents: list[Path] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.base / "docker.sock"

    @property
    def exec_root(self) -> Path:
        return self.base / "exec"

    @property
    def data_root(self) -> Path:
        return self.base / "data"

    @property
    def runtime_root(self) -> Path:
        """Where the containerd shim keeps the runtime's state (``--root``) for moby; dockerd
        20.10 names it runtime-runc whichever runtime binary is used."""
        return self.exec_root / "runtime-runc" / "moby"

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                "DOCKER_HOST": f"unix://{self.socket}",
                "DOCKER_CONFIG": str(self.base / "client")}

    @classmethod
    def start(cls) -> DockerDaemon:
        # Short path: containerd's sockets live under exec-root (sun_path is 108 bytes).
        daemon = cls(Path(tempfile.mkdtemp(prefix="limpet-docker-", dir="/tmp")))
        daemon.created_cgroup_parents = [
            c / "docker" for c in CGROUP_ROOT.iterdir()
            if c.is_dir() and not c.is_symlink() and not (c / "docker").exists()]
        config = {
            "data-root": str(daemon.data_root),
            "exec-root": str(daemon.exec_root),
            "pidfile": str(daemon.base / "docker.pid"),
            "hosts": [f"unix://{daemon.socket}"],
            "iptables": False,
            "ip-forward": False,
            "bridge": "none",
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "runtimes": {"limpet": {"path": LIMPET}},
        }
        (daemon.base / "daemon.json").write_text(json.dumps(config, indent=2))
        log = open(daemon.base / "dockerd.log", "wb")   # noqa: SIM115 (kept by the daemon)
        daemon.proc = subprocess.Popen(
            [DOCKERD, "--config-file", str(daemon.base / "daemon.json")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if daemon.proc.poll() is not None:
                daemon.stop()
                raise RuntimeError(f"dockerd exited {daemon.proc.returncode}: "
                                   f"{daemon.log_tail()}")
            if daemon.socket.exists() and daemon.docker("version", timeout=10).returncode == 0:
                return daemon
            if time.monotonic() > deadline:
                daemon.stop()
                raise RuntimeError(f"dockerd did not answer in 60s: {daemon.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.base / "dockerd.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def docker(self, *args: str, timeout: float = 120, input: str | None = None,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        return run([DOCKER, *args], timeout=timeout, input=input, check=check, env=self.env)

    def docker_pty(self, *args: str, timeout: float = 60) -> tuple[int, str]:
        return run_in_pty([DOCKER, *args], timeout=timeout, env=self.env)

    def run_args(self, runtime: str, *args: str) -> list[str]:
        """``run`` arguments for ``runtime``, recording the container's id via --cidfile."""
        cidfile = self.base / f"cid-{uuid.uuid4().hex}"
        self.container_ids.add(f"@{cidfile}")
        return ["run", "--runtime", runtime, *BASE_FLAGS, "--cidfile", str(cidfile), *args]

    def run(self, runtime: str, *args: str, timeout: float = 120, input: str | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.docker(*self.run_args(runtime, *args), timeout=timeout, input=input,
                           check=check)

    def _resolve_ids(self) -> set[str]:
        ids = set()
        for entry in self.container_ids:
            if entry.startswith("@"):
                path = Path(entry[1:])
                if path.exists():
                    ids.add(path.read_text().strip())
                    path.unlink()
            else:
                ids.add(entry)
        self.container_ids = set()
        return {i for i in ids if i}

    def remove_all(self) -> None:
        ids = self.docker("ps", "-aq", "--no-trunc", timeout=30).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=60)
        self.docker("volume", "prune", "-f", timeout=60)

    def leftovers(self, ids: set[str]) -> list[str]:
        """What the containers ``ids`` left behind after removal."""
        found = []
        for cid in ids:
            for controller in CGROUP_ROOT.iterdir():
                if (controller / "docker" / cid).exists():
                    found.append(f"cgroup {controller / 'docker' / cid}")
            for state in (self.runtime_root / cid, Path("/run/limpet") / cid,
                          self.exec_root / "containerd" / cid,
                          self.exec_root / "containerd" / "daemon" /
                          "io.containerd.runtime.v2.task" / "moby" / cid):
                if state.exists():
                    found.append(f"state {state}")
            for pid, cmdline in processes_mentioning(f"-id {cid}").items():
                found.append(f"process {pid}: {cmdline}")
        for point in mounts_under(self.base):
            if point != str(self.data_root):   # dockerd's own private bind while it runs
                found.append(f"mount {point}")
        return found

    def check_clean(self, wait: float = 10) -> None:
        """Remove every container, then fail if any of them left anything behind."""
        self.remove_all()
        ids = self._resolve_ids()
        deadline = time.monotonic() + wait
        while (found := self.leftovers(ids)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not found, "left behind:\n" + "\n".join(found)

    def stop(self) -> list[str]:
        """Stop dockerd and everything it started; remove the temp dir. Returns what had to
        be cleaned up by force (a non-empty list is a failure for the caller to report)."""
        forced: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            if self.socket.exists():
                self.remove_all()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                forced.append("dockerd ignored SIGTERM for 60s")
                self.proc.kill()
                self.proc.wait(timeout=10)
        # containerd and the shims carry the exec-root in their command lines.
        deadline = time.monotonic() + 10
        while (stray := processes_mentioning(str(self.base))) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid, cmdline in stray.items():
            forced.append(f"process {pid}: {cmdline}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for point in reversed(mounts_under(self.base)):
            forced.append(f"mount {point}")
            subprocess.run(["umount", "-l", point], timeout=30, check=False)
        for parent in self.created_cgroup_parents:
            try:
                parent.rmdir()   # only if empty; leaf leftovers were reported per test
            except FileNotFoundError:
                pass
            except OSError:
                forced.append(f"cgroup {parent} not empty")
        if not mounts_under(self.base):
            shutil.rmtree(self.base, ignore_errors=True)
        return forced

