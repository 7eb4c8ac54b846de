"""Shared pieces of the engine tests: real podman, containerd (ctr and CRI) and dockerd
running containers on limpet (issue 6; ../shared/design/engines.md).

Each engine module starts its own daemon (if it has one) with private config, state dirs
and socket under a temp dir, builds a busybox image locally, and stops everything after.
The tests are marked ``engines``; they need root and the packages scripts/setup.sh installs.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import struct
import subprocess
import tarfile
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import LIMPET, build_rootfs

__all__ = ["LIMPET", "RUNC", "busybox_tar", "need", "run", "run_in_pty"]

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.engines)


def need(*programs: str) -> None:
    """Skip (outside CI) or fail (in CI, where setup.sh must have installed them)."""
    missing = [p for p in programs if not shutil.which(p) and not os.path.exists(p)]
    if missing:
        message = f"not installed: {', '.join(missing)} (scripts/setup.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox rootfs as a tar (for ``podman import``, ``docker import`` and OCI
    archives), built from the same rootfs the integration tests use."""
    root = build_rootfs(tmp_path_factory.mktemp("engine-rootfs"))
    target = tmp_path_factory.mktemp("engine-image") / "busybox-rootfs.tar"
    with tarfile.open(target, "w") as tar:
        for entry in sorted(os.listdir(root)):
            tar.add(root / entry, arcname=entry)
    return target


def run(cmd: list[str], timeout: float = 120, check: bool = False,
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; never hangs longer than ``timeout``."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          **kwargs)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\nstdout: {proc.stdout}\n"
                             f"stderr: {proc.stderr}")
    return proc


def run_in_pty(cmd: list[str], env: dict[str, str] | None = None, rows: int = 24,
               cols: int = 80, timeout: float = 60) -> tuple[int, str]:
    """Run ``cmd`` with a new pty (of the given size) as stdin, stdout and stderr, as from a
    terminal (``-t`` insists on one); return its exit status and everything it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    try:
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                                start_new_session=True)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:         # EIO: every slave fd is closed
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"{' '.join(cmd)}: no exit within {timeout}s; output {out!r}")
        return proc.wait(timeout=10), out.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
