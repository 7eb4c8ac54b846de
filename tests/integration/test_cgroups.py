"""linux.cgroupsPath and linux.resources on the real kernel (config-linux.md#control-groups):
the container runs in /limpet-test/<unique> of every v1 hierarchy, the limits are in the host
files while it runs and take effect inside it, device rules apply in order, and neither
delete nor a failed create leaves a cgroup directory behind.

Written for this host's cgroup v1 controllers (hybrid: the cgroup2 tree holds only hugetlb);
the v2 backend is exercised in the pure-v2 VM lane.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from limpet.plugins.cgroups import cgfs, devices, host, ops

from tests.conftest import Bundle, Runtime, run_in


def _host_is_v1() -> bool:
    try:
        return host.detect() == "v1"
    except Exception:
        return False


pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not _host_is_v1(), reason="needs cgroup v1 controllers"),
]

MIB = 1024 * 1024
PARENT = "limpet-test"


def v1_mounts() -> dict[str, Path]:
    """hierarchy name (``cpu``, ``name=systemd``) -> mount point."""
    return {m.key: Path(m.mountpoint) for m in host.read_mounts()
            if m.fstype == "cgroup" and m.controllers}


def mount_of(controller: str) -> Path:
    return next(p for key, p in v1_mounts().items() if controller in key.split(","))


class Cgroup:
    """A unique /limpet-test/<name> cgroup path and its directories on the host."""

    def __init__(self) -> None:
        self.name = f"t-{uuid.uuid4().hex[:10]}"
        self.path = f"/{PARENT}/{self.name}"

    def dir(self, controller: str) -> Path:
        return mount_of(controller) / PARENT / self.name

    def dirs(self) -> list[Path]:
        return [mount / PARENT / self.name for mount in v1_mounts().values()]

    def read(self, controller: str, file: str) -> str:
        return (self.dir(controller) / file).read_text().strip()

    def left(self) -> list[Path]:
        return [d for d in self.dirs() if d.exists()]

    def cleanup(self) -> None:
        """Kill what is left in the cgroup, then rmdir it (and the shared parent if empty)."""
        for d in self.left():
            for pid in cgfs.procs(str(d)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for d in self.left():
            cgfs.remove(str(d))
        for mount in v1_mounts().values():
            with contextlib.suppress(OSError):
                os.rmdir(mount / PARENT)


@pytest.fixture
def cgroup() -> Iterator[Cgroup]:
    group = Cgroup()
    yield group
    group.cleanup()


def with_resources(bundle: Bundle, cgroup: Cgroup, resources: dict[str, Any]) -> Bundle:
    bundle.config["linux"]["cgroupsPath"] = cgroup.path
    bundle.config["linux"]["resources"] = resources
    return bundle


def wait_for(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("END\n"):
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written in {timeout}s")


LIMITS = {
    "devices": [{"allow": False, "access": "rwm"}],
    "memory": {"limit": 64 * MIB, "reservation": 32 * MIB},
    "pids": {"limit": 50},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
}


def test_limits_are_set_while_running_and_removed_by_delete(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with_resources(bundle, cgroup, LIMITS)
    bundle.config["mounts"].append({"destination": "/out", "type": "bind",
                                    "source": str(out), "options": ["rbind", "rw"]})
    bundle.set_args("/bin/sh", "-c", "cat /proc/self/cgroup > /out/cgroup; echo END >> "
                    "/out/cgroup; sleep 5").write()
    assert limpet("create", "--bundle", str(bundle.path), "limits").returncode == 0
    pid = limpet.state("limits")["pid"]
    # created: the init is already in every hierarchy
    for d in cgroup.dirs():
        assert str(pid) in (d / "cgroup.procs").read_text().split(), d
    assert limpet("start", "limits").returncode == 0
    inside = wait_for(out / "cgroup")
    seen = {line.split(":")[1]: line.split(":", 2)[2] for line in inside.splitlines()
            if line.count(":") >= 2}
    for key in v1_mounts():
        assert seen[key] == cgroup.path, (key, inside)
    assert cgroup.read("memory", "memory.limit_in_bytes") == str(64 * MIB)
    assert cgroup.read("memory", "memory.soft_limit_in_bytes") == str(32 * MIB)
    assert cgroup.read("pids", "pids.max") == "50"
    assert cgroup.read("cpu", "cpu.shares") == "512"
    assert cgroup.read("cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup.read("cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup.read("cpuset", "cpuset.cpus") == "0"
    assert cgroup.read("cpuset", "cpuset.mems") == "0"
    allowed = cgroup.read("devices", "devices.list").splitlines()
    assert "c 1:3 rwm" in allowed and "a *:* rwm" not in allowed
    assert pid in ops.cgroup_pids(os.path.join(limpet.root, "limits"))
    assert limpet("delete", "--force", "limits").returncode == 0
    assert cgroup.left() == []
    assert not (mount_of("memory") / PARENT).exists()   # the parent it made went too


def test_created_container_deleted_without_start_leaves_no_cgroup(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"pids": {"limit": 10}}).set_args("/bin/true").write()
    assert limpet("create", "--bundle", str(bundle.path), "fresh").returncode == 0
    assert cgroup.read("pids", "pids.max") == "10"
    assert limpet("delete", "fresh").returncode == 0
    assert cgroup.left() == []


def test_run_removes_the_cgroup_after_the_program_exits(limpet: Runtime, bundle: Bundle,
                                                        cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"pids": {"limit": 10}})
    result = run_in(limpet, bundle, "cat /proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    assert f"pids:{cgroup.path}" in result.stdout
    assert cgroup.left() == []


def test_default_cgroup_is_limpet_slash_id(limpet: Runtime, bundle: Bundle) -> None:
    name = f"d-{uuid.uuid4().hex[:8]}"
    result = run_in(limpet, bundle, "cat /proc/self/cgroup", name=name)
    assert result.returncode == 0, result.stderr
    assert f"memory:/limpet-{name}" in result.stdout
    assert not (mount_of("memory") / "limpet" / name).exists()


def test_failed_create_leaves_no_cgroup(limpet: Runtime, bundle: Bundle,
                                        cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, LIMITS).set_args("/nonexistent/program").write()
    result = limpet("create", "--bundle", str(bundle.path), "broken")
    assert result.returncode != 0
    assert "no such file or directory" in result.stderr
    assert cgroup.left() == []
    assert limpet.containers() == []


def test_refused_write_names_the_config_path_and_rolls_back(limpet: Runtime, bundle: Bundle,
                                                            cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"cpu": {"quota": 500}}).write()   # kernel minimum: 1000
    result = limpet("create", "--bundle", str(bundle.path), "refused")
    assert result.returncode != 0
    quota = cgroup.dir("cpu") / "cpu.cfs_quota_us"
    assert f"linux.resources.cpu.quota: writing 500 to {quota}: Invalid argument" \
        in result.stderr
    assert cgroup.left() == []


def test_unsupported_resource_is_refused_before_anything_happens(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"blockIO": {"weight": 300}}).write()
    result = limpet("create", "--bundle", str(bundle.path), "blkio")
    assert result.returncode != 0
    assert "linux.resources.blockIO: not supported yet by the cgroups plugin" in result.stderr
    assert cgroup.left() == []


def test_pids_limit_is_enforced(limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"pids": {"limit": 4}})
    result = run_in(limpet, bundle, "for i in 1 2 3 4 5 6; do sleep 1 & done 2>&1; wait")
    assert "can't fork" in result.stdout + result.stderr


def test_memory_limit_is_enforced(limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"memory": {"limit": 16 * MIB, "swap": 16 * MIB}})
    # a shell variable of 48 MiB cannot fit in 16 MiB of memory+swap: the OOM killer ends it
    result = run_in(limpet, bundle, "x=$(head -c 50331648 /dev/zero | tr '\\0' a); echo ok")
    assert result.returncode == 128 + signal.SIGKILL, (result.returncode, result.stderr)
    assert "ok" not in result.stdout
    assert cgroup.left() == []


FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
DENY_ALL = {"allow": False, "access": "rwm"}
OPEN_RW = "(exec 3<>/dev/fuse) && echo opened-rw; (exec 4</dev/fuse) && echo opened-r; true"


def _fuse_run(limpet: Runtime, bundle: Bundle, cgroup: Cgroup,
              rules: list[dict[str, Any]]) -> str:
    bundle.config["linux"]["devices"] = [FUSE]
    with_resources(bundle, cgroup, {"devices": rules})
    result = run_in(limpet, bundle, OPEN_RW)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_device_outside_the_rules_is_denied(limpet: Runtime, bundle: Bundle,
                                            cgroup: Cgroup) -> None:
    out = _fuse_run(limpet, bundle, cgroup, [DENY_ALL])
    assert "opened" not in out
    assert os.strerror(errno.EPERM) in out


def test_device_rules_apply_in_order(limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    allow = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}
    out = _fuse_run(limpet, bundle, cgroup, [DENY_ALL, allow])
    assert "opened-rw" in out and "opened-r" in out
    deny_write = {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "w"}
    out = _fuse_run(limpet, bundle, cgroup, [DENY_ALL, allow, deny_write])
    assert "opened-rw" not in out and "opened-r" in out


def test_default_devices_stay_allowed_after_the_rules_like_runc(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    """runc appends its default allow list after linux.resources.devices, so a rule cannot
    take /dev/null away (engines send only "deny all" and rely on this)."""
    deny_null = {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    with_resources(bundle, cgroup, {"devices": [DENY_ALL, deny_null]})
    result = run_in(limpet, bundle, "echo x > /dev/null && echo null-ok; "
                    "head -c 1 /dev/zero > /dev/null && echo zero-ok")
    assert result.stdout.split() == ["null-ok", "zero-ok"], result.stderr
    assert "c 1:3 rwm" in devices.DEFAULT_ALLOW


def test_existing_cgroup_is_joined_and_not_removed(limpet: Runtime, bundle: Bundle,
                                                   cgroup: Cgroup) -> None:
    existing = cgroup.dir("pids")
    existing.mkdir(parents=True)
    with_resources(bundle, cgroup, {"pids": {"limit": 20}})
    result = run_in(limpet, bundle, "cat /proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    assert f"pids:{cgroup.path}" in result.stdout
    assert cgroup.left() == [existing]
    assert (existing / "pids.max").read_text().strip() == "20"
