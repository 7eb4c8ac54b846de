"""Shared fixtures: the limpet binary, a busybox rootfs, bundles, and a private state root.

Integration tests run real containers as root. Each test gets its own ``--root`` under
/run (cleaned up with ``delete --force`` afterwards) and a bundle whose config.json starts
from ``limpet spec`` and can be edited before use.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LIMPET = str(Path(sys.executable).with_name("limpet"))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def build_rootfs(target: Path) -> Path:
    """A minimal busybox rootfs: every applet as a symlink, /etc/passwd and /etc/group."""
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root", "home/user", "var"):
        (target / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, target / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = target / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (target / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (target / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\n"
                                          "nogroup:x:65534:\n")
    os.chmod(target / "tmp", 0o1777)
    os.chmod(target, 0o755)   # "/" of the container: non-root users must traverse it
    return target


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("rootfs"))


def default_config() -> dict[str, Any]:
    from limpet.core.default_spec import default_spec

    return default_spec()


@pytest.fixture
def world_readable_rootfs() -> Iterator[str]:
    """A rootfs the mapped root of a user namespace can reach (it is not host root, and
    pytest's own tmp dirs are 0700)."""
    top = tempfile.mkdtemp(prefix="limpet-userns-")
    os.chmod(top, 0o755)
    try:
        yield str(build_rootfs(Path(top) / "rootfs"))
    finally:
        shutil.rmtree(top, ignore_errors=True)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_to_files(cmd: list[str], env: dict[str, str], input: str | None = None,
                 timeout: float = 60, cwd: Path | None = None) -> Result:
    """Run a limpet command line. Files, not pipes: a created container's init inherits
    stdout/stderr and keeps them open (as under an engine), so waiting for a pipe's EOF
    would hang."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        data = None if input is None else input.encode()
        proc = subprocess.run(cmd, stdout=out, stderr=err, input=data, timeout=timeout,
                              env=env, cwd=cwd)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read().decode(errors="replace"),
                      err.read().decode(errors="replace"))


@dataclass
class Runtime:
    """Runs the limpet CLI against a private state root."""

    root: str
    config_file: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 check: bool = False) -> Result:
        cmd = [LIMPET, "--root", self.root, *args]
        env = {**os.environ, **self.extra_env}
        if self.config_file:
            env["LIMPET_CONFIG"] = self.config_file
        result = run_to_files(cmd, env=env, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                                 f"{result.stderr}")
        return result

    def state(self, container_id: str) -> dict[str, Any]:
        return dict(json.loads(self("state", container_id, check=True).stdout))

    def containers(self) -> list[str]:
        """Container directories under the root (``@`` names, which no container id can
        have, are the runtime's caches, e.g. ``@entry-points.json``)."""
        if not os.path.isdir(self.root):
            return []
        return sorted(n for n in os.listdir(self.root)
                      if os.path.isdir(os.path.join(self.root, n)) and not n.startswith("@"))


@pytest.fixture
def limpet() -> Iterator[Runtime]:
    root = f"/run/limpet-test-{uuid.uuid4().hex[:8]}"
    runtime = Runtime(root, config_file="/nonexistent/limpet-test-config.yaml")
    yield runtime
    for container_id in runtime.containers():
        runtime("delete", "--force", container_id)
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Bundle:
    path: Path
    config: dict[str, Any]

    def write(self) -> Path:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self.path

    def set_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self

    def namespaces(self) -> list[str]:
        return [ns["type"] for ns in self.config["linux"]["namespaces"]]


_DEFAULT: dict[str, Any] = {}


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Bundle:
    """A bundle on the shared busybox rootfs (read-only root), running /bin/true."""
    if not _DEFAULT:
        _DEFAULT.update(default_config())
    config = copy.deepcopy(_DEFAULT)
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    # Device cgroup rules need the cgroups plugin; tests that want them add them back.
    config["linux"].pop("resources", None)
    config["process"]["capabilities"]["ambient"] = []
    return Bundle(tmp_path, config)


def run_in(limpet: Runtime, bundle: Bundle, script: str, name: str | None = None) -> Result:
    """Run ``sh -c script`` in a container from ``bundle``; returns its output."""
    bundle.set_args("/bin/sh", "-c", script).write()
    return limpet("run", "--bundle", str(bundle.path), name or f"t-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def console_socket(path: str) -> Iterator[list[int]]:
    """A ``--console-socket`` listener at ``path``: the fd the runtime sends (the pty
    master) lands in the yielded list once the ``with`` block ends."""
    received: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                received.extend(socket.recv_fds(conn, 1024, 1)[1])

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield received
        thread.join(timeout=10)


def read_pty(fd: int) -> bytes:
    """Everything a pty master delivers until the container side is closed."""
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:   # EIO once the container side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
