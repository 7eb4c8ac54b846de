"""A private podman for the engine tests: its own containers.conf, store, run root, temp
dirs and file locks under one directory, driving whichever OCI runtime a call names
(``podman --runtime PATH``), plus the checks for what it may leave behind on the host."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.engines.conftest import LIMPET, run

IMAGE = "localhost/bb"
LIMPET_ROOT = Path("/run/limpet")   # podman never passes --root: limpet's default state root
CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "libpod_parent"            # cgroupfs manager: /libpod_parent/libpod-<id>, .../conmon

CONF = """\
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
log_driver = "k8s-file"
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
image_copy_tmp_dir = "{base}/imgtmp"
runtime_supports_json = ["crun", "runc", "kata", "krun", "limpet"]

[network]
network_config_dir = "{base}/networks"
"""

# Host paths podman creates whatever its flags say (the blob-info cache of containers/image,
# netavark's run dir); removed again at teardown when they did not exist before.
HOST_TRACES = (Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
               Path("/var/lib/containers/cache"), Path("/var/lib/containers"),
               Path("/run/containers/networks"), Path("/run/containers"))


class Podman:
    """podman with private config and storage under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.driver = "overlay"
        self.env = dict(os.environ, CONTAINERS_CONF=str(base / "containers.conf"))
        self.env.pop("CONTAINER_HOST", None)
        self.env.pop("CONTAINER_CONNECTION", None)
        self._traces = [p for p in HOST_TRACES if not os.path.lexists(p)]
        self._cgroup_parents = [c for c in _controllers()
                                if not (CGROUP_ROOT / c / PARENT).exists()]
        self._limpet_root_existed = LIMPET_ROOT.exists()
        self._limpet_before = set(_limpet_entries())

    def flags(self) -> list[str]:
        return ["--root", str(self.base / "root"), "--runroot", str(self.base / "runroot"),
                "--tmpdir", str(self.base / "tmp"), "--storage-driver", self.driver]

    def cmd(self, runtime: str, *args: str) -> list[str]:
        return ["podman", *self.flags(), "--runtime", runtime, *args]

    def __call__(self, runtime: str, *args: str, input: str | None = None,
                 timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run(self.cmd(runtime, *args), timeout=timeout, check=check, input=input,
                   env=self.env, stdin=None if input is not None else subprocess.DEVNULL)

    def setup(self, busybox_tar: Path) -> None:
        """Write the config and import the busybox rootfs as localhost/bb (overlay if the
        temp dir's filesystem takes it, else vfs)."""
        for d in ("imgtmp", "networks", "tmp"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "containers.conf").write_text(CONF.format(base=self.base))
        errors = []
        for driver in ("overlay", "vfs"):
            self.driver = driver
            proc = run(["podman", *self.flags(), "import", "-q", str(busybox_tar), IMAGE],
                       timeout=120, env=self.env, stdin=subprocess.DEVNULL)
            if proc.returncode == 0:
                return
            errors.append(f"{driver}: {proc.stderr.strip()}")
            self.reset()
        raise AssertionError("podman import failed: " + "; ".join(errors))

    def reset(self) -> None:
        """Remove every container and the whole store, then unmount whatever is left."""
        podman = ["podman", *self.flags()]
        run([*podman, "rm", "-af", "-t", "0"], timeout=120, env=self.env)
        run([*podman, "system", "reset", "--force"], timeout=120, env=self.env)
        for mountpoint in sorted(self.mounts(), key=len, reverse=True):
            run(["umount", "-l", mountpoint], timeout=30)
        for d in ("root", "runroot", "tmp"):
            shutil.rmtree(self.base / d, ignore_errors=True)

    def teardown(self) -> None:
        self.reset()
        for container_id in self.limpet_state():   # last resort: podman failed to remove it
            run([LIMPET, "kill", container_id, "9"], timeout=30)
            run([LIMPET, "delete", "--force", container_id], timeout=30)
        for path in self._traces:          # deepest first: HOST_TRACES is ordered so
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
        for controller in self._cgroup_parents:
            parent = CGROUP_ROOT / controller / PARENT
            for child in (parent / "conmon", parent):
                with contextlib.suppress(OSError):
                    child.rmdir()
        if not self._limpet_root_existed and LIMPET_ROOT.exists() and not self.limpet_state():
            shutil.rmtree(LIMPET_ROOT, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)

    # What may be left behind.
    def mounts(self) -> list[str]:
        prefix = str(self.base)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        return [p for p in points if p == prefix or p.startswith(prefix + "/")]

    def limpet_state(self) -> list[str]:
        """Container state dirs limpet made under /run/limpet during this session (``@``
        names are its caches)."""
        return sorted(n for n in set(_limpet_entries()) - self._limpet_before
                      if not n.startswith("@"))


def container_cgroups() -> list[str]:
    """Container cgroups (libpod-<id>) under any controller's libpod_parent."""
    found = []
    for controller in _controllers():
        parent = CGROUP_ROOT / controller / PARENT
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir()
                      if p.is_dir() and p.name.startswith("libpod-")]
    return sorted(found)


def _controllers() -> list[str]:
    return sorted(p.name for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink())


def _limpet_entries() -> list[str]:
    return os.listdir(LIMPET_ROOT) if LIMPET_ROOT.is_dir() else []


