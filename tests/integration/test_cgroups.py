"""linux.cgroupsPath and linux.resources on the real kernel (config-linux.md#control-groups):
the container runs in /limpet-test/<unique> of every v1 hierarchy (and of the hybrid host's
cgroup2 tree), the limits are in the host files while it runs and take effect inside it,
device rules apply in order, the verbs pause, resume, update, ps, events and kill --all work
on its cgroups, and no test leaves a cgroup directory behind (the ``cgroup`` fixture checks
after deleting the test's containers).

Written for this host's cgroup v1 controllers (hybrid: the cgroup2 tree holds only hugetlb);
the v2 backend is exercised in the pure-v2 VM lane (test_cgroups_v2.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from limpet.plugins.cgroups import cgfs, devices, host, ops

from tests.conftest import LIMPET, Bundle, Runtime, run_in


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
        """Every hierarchy's directory, the hybrid host's cgroup2 one included."""
        mounts = [*v1_mounts().values(), *unified_mounts()]
        return [mount / PARENT / self.name for mount in mounts]

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
        for mount in [*v1_mounts().values(), *unified_mounts()]:
            with contextlib.suppress(OSError):
                os.rmdir(mount / PARENT)


def unified_mounts() -> list[Path]:
    return [Path(m.mountpoint) for m in host.read_mounts() if m.fstype == "cgroup2"]


@pytest.fixture
def cgroup(limpet: Runtime) -> Iterator[Cgroup]:
    """A unique cgroup path; afterwards the test's containers are deleted and no directory
    of it may be left (then it is cleaned up anyway)."""
    group = Cgroup()
    yield group
    for container_id in limpet.containers():
        limpet("delete", "--force", container_id)
    left = group.left()
    group.cleanup()
    assert left == [], f"cgroup directories left behind: {left}"


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


@pytest.mark.skipif(any("hugetlb" in key for key in v1_mounts()) or
                    not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"),
                    reason="needs 2MB huge pages and no hugetlb v1 hierarchy (a hybrid host)")
def test_resource_the_host_cannot_apply_is_refused_before_anything_happens(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    """On this hybrid host hugetlb is bound to the cgroup2 tree, not to a v1 hierarchy."""
    with_resources(bundle, cgroup, {"hugepageLimits": [{"pageSize": "2MB",
                                                        "limit": 4 * MIB}]}).write()
    result = limpet("create", "--bundle", str(bundle.path), "huge")
    assert result.returncode != 0
    assert "linux.resources.hugepageLimits[0]: the hugetlb cgroup v1 controller is not " \
        "mounted on this host" in result.stderr
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
    existing.rmdir()   # the test made it


# --- more limits, read back from the cgroup files ---------------------------------------------

def root_disk() -> tuple[str, str]:
    """(name, "major:minor") of a real disk (not zram, loop or ram)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "zram", "ram", "nbd")):
            return name, Path(f"/sys/block/{name}/dev").read_text().strip()
    pytest.skip("no block device")


def test_more_limits_read_back_from_the_cgroup_files(limpet: Runtime, bundle: Bundle,
                                                     cgroup: Cgroup) -> None:
    _, disk = root_disk()
    major, minor = (int(x) for x in disk.split(":"))
    resources = {
        "memory": {"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB,
                   "kernelTCP": 8 * MIB, "swappiness": 20, "disableOOMKiller": False},
        "cpu": {"shares": 256, "quota": 20000, "period": 50000, "burst": 5000, "idle": 0,
                "cpus": "0", "mems": "0"},
        "pids": {"limit": 33},
        "blockIO": {"weight": 300,
                    "throttleReadBpsDevice": [{"major": major, "minor": minor,
                                               "rate": 10 * MIB}],
                    "throttleWriteIOPSDevice": [{"major": major, "minor": minor,
                                                 "rate": 500}]},
    }
    with_resources(bundle, cgroup, resources).set_args("/bin/true").write()
    assert limpet("create", "--bundle", str(bundle.path), "more").returncode == 0
    assert cgroup.read("memory", "memory.limit_in_bytes") == str(64 * MIB)
    assert cgroup.read("memory", "memory.soft_limit_in_bytes") == str(32 * MIB)
    assert cgroup.read("memory", "memory.memsw.limit_in_bytes") == str(96 * MIB)
    assert cgroup.read("memory", "memory.kmem.tcp.limit_in_bytes") == str(8 * MIB)
    assert cgroup.read("memory", "memory.swappiness") == "20"
    assert cgroup.read("cpu", "cpu.shares") == "256"
    assert cgroup.read("cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup.read("cpu", "cpu.cfs_period_us") == "50000"
    assert cgroup.read("cpu", "cpu.cfs_burst_us") == "5000"
    assert cgroup.read("cpuset", "cpuset.cpus") == "0"
    assert cgroup.read("pids", "pids.max") == "33"
    weight = "blkio.bfq.weight" if (cgroup.dir("blkio") / "blkio.bfq.weight").exists() \
        else "blkio.weight"
    assert cgroup.read("blkio", weight).split()[-1] == "300"
    assert cgroup.read("blkio", "blkio.throttle.read_bps_device") == f"{disk} {10 * MIB}"
    assert cgroup.read("blkio", "blkio.throttle.write_iops_device") == f"{disk} 500"
    assert limpet("delete", "more").returncode == 0


def test_fork_loop_is_stopped_by_pids_limit(limpet: Runtime, bundle: Bundle, cgroup: Cgroup,
                                            tmp_path: Path) -> None:
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    bundle.config["mounts"].append({"destination": "/signal", "type": "bind",
                                    "source": str(signal_dir), "options": ["rbind", "rw"]})
    with_resources(bundle, cgroup, {"pids": {"limit": 10}})
    # the loop runs in a subshell (busybox sh gives up on a failed fork); echo is a builtin
    started(limpet, bundle, "forks", "(i=0; while [ $i -lt 50 ]; do sleep 300 & "
            "i=$((i+1)); done) 2>/dev/null; echo done > /signal/done; exec sleep 300")
    wait_until(lambda: (signal_dir / "done").exists())
    assert int(cgroup.read("pids", "pids.events").split()[-1]) > 0   # "max N": forks refused
    running = json.loads(limpet("ps", "--format", "json", "forks").stdout)
    assert 8 <= len(running) <= 10                 # the shell and the sleeps that got a pid
    assert int(cgroup.read("pids", "pids.current")) == len(running)


def test_oom_kill_under_the_limit_is_reported_by_events(limpet: Runtime, bundle: Bundle,
                                                        cgroup: Cgroup,
                                                        tmp_path: Path) -> None:
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    bundle.config["mounts"].append({"destination": "/signal", "type": "bind",
                                    "source": str(signal_dir), "options": ["rbind", "rw"]})
    with_resources(bundle, cgroup, {"memory": {"limit": 16 * MIB, "swap": 16 * MIB}})
    # the hog is a child that raises its own oom_score_adj: the OOM killer takes it, never
    # the shell that reports
    bundle.set_args("/bin/sh", "-c", "while [ ! -e /signal/go ]; do sleep 0.1; done; "
                    "sh -c 'echo 1000 > /proc/self/oom_score_adj; "
                    "x=$(head -c 50331648 /dev/zero | tr \"\\0\" a)'; "
                    "echo $? > /signal/status; sleep 300").write()
    assert limpet("create", "--bundle", str(bundle.path), "oom").returncode == 0
    assert limpet("start", "oom").returncode == 0
    events = subprocess.Popen([LIMPET, "--root", limpet.root, "events", "--interval", "1s",
                               "oom"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "LIMPET_CONFIG": str(limpet.config_file)})
    try:
        assert events.stdout is not None
        first = json.loads(events.stdout.readline())      # registered for OOM by now
        assert first["type"] == "stats" and first["id"] == "oom"
        assert first["data"]["memory"]["usage"]["limit"] == 16 * MIB
        (signal_dir / "go").touch()
        types = []
        while "oom" not in types and len(types) < 60:   # a stats line a second meanwhile
            event = json.loads(events.stdout.readline())
            assert event["id"] == "oom"
            types.append(event["type"])
        assert "oom" in types
    finally:
        events.kill()
        events.wait()
    status = signal_dir / "status"
    wait_until(lambda: status.exists() and status.read_text().strip() != "")  # shell's echo
    assert status.read_text().strip() == str(128 + signal.SIGKILL)
    control = (cgroup.dir("memory") / "memory.oom_control").read_text().split()
    assert int(control[control.index("oom_kill") + 1]) >= 1


# --- verbs: pause, resume, update, ps, kill --all, delete --------------------------------------

def started(limpet: Runtime, bundle: Bundle, name: str, script: str) -> int:
    bundle.set_args("/bin/sh", "-c", script).write()
    assert limpet("create", "--bundle", str(bundle.path), name).returncode == 0
    assert limpet("start", name).returncode == 0
    return int(limpet.state(name)["pid"])


def wait_until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_pause_freezes_every_process_and_resume_thaws_them(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup, tmp_path: Path) -> None:
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    bundle.config["mounts"].append({"destination": "/signal", "type": "bind",
                                    "source": str(signal_dir), "options": ["rbind", "rw"]})
    with_resources(bundle, cgroup, {"pids": {"limit": 20}})
    started(limpet, bundle, "frozen", "sleep 300 & while [ ! -e /signal/go ]; do sleep 0.05; "
            "done; echo thawed > /signal/done; wait")
    assert limpet("pause", "frozen").returncode == 0
    assert limpet.state("frozen")["status"] == "paused"
    assert cgroup.read("freezer", "freezer.state") == "FROZEN"   # every task, says the kernel
    listed = json.loads(limpet("list", "--format", "json").stdout)
    assert [c["status"] for c in listed] == ["paused"]
    (signal_dir / "go").touch()
    again = limpet("pause", "frozen")
    assert again.returncode != 0 and "container not running" in again.stderr
    assert limpet("resume", "frozen").returncode == 0
    assert limpet.state("frozen")["status"] == "running"
    assert cgroup.read("freezer", "freezer.state") == "THAWED"
    wait_until(lambda: (signal_dir / "done").exists())
    twice = limpet("resume", "frozen")
    assert twice.returncode != 0 and "container not paused" in twice.stderr


def test_pause_of_a_stopped_container_fails(limpet: Runtime, bundle: Bundle,
                                            cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {})
    started(limpet, bundle, "done", "true")
    wait_until(lambda: limpet.state("done")["status"] == "stopped")
    result = limpet("pause", "done")
    assert result.returncode != 0 and "container not running" in result.stderr


def test_update_changes_the_limits_seen_inside(limpet: Runtime, bundle: Bundle,
                                              cgroup: Cgroup, tmp_path: Path) -> None:
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    bundle.config["mounts"].append({"destination": "/signal", "type": "bind",
                                    "source": str(signal_dir), "options": ["rbind", "rw"]})
    with_resources(bundle, cgroup, {"memory": {"limit": 64 * MIB, "swap": 128 * MIB},
                                    "pids": {"limit": 20}, "cpu": {"shares": 512}})
    started(limpet, bundle, "upd", "while [ ! -e /signal/go ]; do sleep 0.05; done; "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
            "> /signal/seen; sleep 300")
    # raising both above the current memory+swap needs memsw written first (runc's order)
    result = limpet("update", "--memory", "256m", "--memory-swap", "512m", "--pids-limit", "70",
                    "--cpu-share", "1024", "--cpuset-cpus", "0", "upd")
    assert result.returncode == 0, result.stderr
    assert cgroup.read("memory", "memory.limit_in_bytes") == str(256 * MIB)
    assert cgroup.read("memory", "memory.memsw.limit_in_bytes") == str(512 * MIB)
    assert cgroup.read("pids", "pids.max") == "70"
    assert cgroup.read("cpu", "cpu.shares") == "1024"
    assert cgroup.read("cpuset", "cpuset.cpus") == "0"
    (signal_dir / "go").touch()
    wait_until(lambda: (signal_dir / "seen").exists() and
               len((signal_dir / "seen").read_text().split()) == 2)
    assert (signal_dir / "seen").read_text().split() == [str(256 * MIB), "70"]
    # lowering: memory first; --resources from stdin; the swap merges with the saved limit
    result = limpet("update", "--resources", "-", "upd",
                    input=json.dumps({"memory": {"limit": 32 * MIB, "swap": 48 * MIB},
                                      "blockIO": {"weight": 200}}))
    assert result.returncode == 0, result.stderr
    assert cgroup.read("memory", "memory.limit_in_bytes") == str(32 * MIB)
    assert cgroup.read("memory", "memory.memsw.limit_in_bytes") == str(48 * MIB)
    assert cgroup.read("pids", "pids.max") == "70"          # untouched sections stay
    result = limpet("update", "--memory-swap", "40m", "upd")   # the limit stays 32m
    assert result.returncode == 0, result.stderr
    assert cgroup.read("memory", "memory.memsw.limit_in_bytes") == str(40 * MIB)



class Writes:
    """Which of a cgroup's files were written (inotify: every write(2) to a cgroupfs file is
    an IN_MODIFY event), to see what an update wrote without tracing the runtime."""

    IN_MODIFY, IN_NONBLOCK = 0x2, 0o4000

    def __init__(self, directory: Path, names: list[str]) -> None:
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(self.IN_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.names = {self.libc.inotify_add_watch(self.fd, str(directory / n).encode(),
                                                  self.IN_MODIFY): n for n in names}

    def take(self) -> list[str]:
        """The names written since the last call, in order (the kernel merges back-to-back
        writes to one file into one event)."""
        out = []
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return out
            for offset in range(0, len(data), 16):      # struct inotify_event, no name
                wd = int.from_bytes(data[offset:offset + 4], "little", signed=True)
                out.append(self.names[wd])

    def close(self) -> None:
        os.close(self.fd)


def test_update_of_device_rules_writes_only_the_difference(limpet: Runtime, bundle: Bundle,
                                                           cgroup: Cgroup) -> None:
    """runc's v1 transition: an update that keeps the default (deny all) writes no "deny
    a", so the running container never loses /dev/null for an instant."""
    fuse = {"allow": True, "type": "c", "major": 10, "minor": 229}
    bundle.config["linux"]["devices"] = [FUSE]
    with_resources(bundle, cgroup, {"devices": [DENY_ALL]})
    started(limpet, bundle, "devupd", "sleep 300")
    writes = Writes(cgroup.dir("devices"), ["devices.allow", "devices.deny"])

    def update(rules: list[dict[str, Any]]) -> str:
        result = limpet("update", "--resources", "-", "devupd",
                        input=json.dumps({"devices": rules}))
        assert result.returncode == 0, result.stderr
        return " ".join(writes.take())

    def probe() -> str:
        result = limpet("exec", "devupd", "/bin/sh", "-c", OPEN_RW + "; echo x > /dev/null "
                        "&& echo null-ok")
        assert result.returncode == 0, result.stderr
        return " ".join(w for w in result.stdout.split() if w != "")

    try:
        assert probe() == "null-ok"
        assert update([DENY_ALL, {**fuse, "access": "rw"}]) == "devices.allow"
        assert probe() == "opened-rw opened-r null-ok"
        assert "c 10:229 rw" in cgroup.read("devices", "devices.list").splitlines()
        assert update([DENY_ALL, {**fuse, "access": "r"}]) == "devices.deny"
        assert probe() == "opened-r null-ok"
        assert update([DENY_ALL, {**fuse, "access": "r"}]) == ""      # nothing changes
        assert update([{"allow": True, "access": "rwm"}]) == "devices.allow"   # allow all
        assert cgroup.read("devices", "devices.list") == "a *:* rwm"
        assert update([DENY_ALL]).split()[0] == "devices.deny"   # the default changes: reset
        assert probe() == "null-ok"
        assert "c 10:229" not in cgroup.read("devices", "devices.list")
    finally:
        writes.close()

@pytest.mark.parametrize("args, words", [
    (["--cpu-share", "1"], "linux.resources.cpu.shares: 1 is outside"),
    (["--memory", "lots"], "--memory: invalid size 'lots'"),
    (["--memory-swap", "16m"], "linux.resources.memory.swap: 16777216 is below"),
    ([], "nothing to update"),
])
def test_bad_update_names_the_field_and_changes_nothing(limpet: Runtime, bundle: Bundle,
                                                        cgroup: Cgroup, args: list[str],
                                                        words: str) -> None:
    with_resources(bundle, cgroup, {"memory": {"limit": 64 * MIB}, "cpu": {"shares": 512}})
    started(limpet, bundle, "bad", "sleep 300")
    result = limpet("update", *args, "bad")
    assert result.returncode != 0
    assert words in result.stderr
    assert cgroup.read("cpu", "cpu.shares") == "512"
    assert cgroup.read("memory", "memory.limit_in_bytes") == str(64 * MIB)


def test_ps_lists_the_processes_in_the_cgroup(limpet: Runtime, bundle: Bundle,
                                             cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {})
    pid = started(limpet, bundle, "ps", "sleep 300 & sleep 301 & wait")
    wait_until(lambda: len(cgfs.procs(str(cgroup.dir("pids")))) == 3)
    listed = json.loads(limpet("ps", "--format", "json", "ps").stdout)
    assert sorted(listed) == sorted(cgfs.procs(str(cgroup.dir("pids"))))
    assert pid in listed
    table = limpet("ps", "ps").stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert sorted(int(line.split()[1]) for line in table[1:]) == sorted(listed)
    assert any("sleep 301" in line for line in table)
    custom = limpet("ps", "ps", "--", "-o", "pid,comm").stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and len(custom) == 4


def test_kill_all_signals_every_process_of_the_cgroup(limpet: Runtime, bundle: Bundle,
                                                      cgroup: Cgroup) -> None:
    # no pid namespace of its own: the init's death would not take the others along
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"]
                                            if ns["type"] != "pid"]
    with_resources(bundle, cgroup, {})
    started(limpet, bundle, "all", "for i in 1 2 3 4 5; do sleep 300 & done; wait")
    wait_until(lambda: len(cgfs.procs(str(cgroup.dir("pids")))) == 6)
    assert limpet("pause", "all").returncode == 0     # frozen tasks must still die (v1)
    assert limpet("kill", "--all", "all", "KILL").returncode == 0
    wait_until(lambda: cgfs.procs(str(cgroup.dir("pids"))) == [])
    assert limpet.state("all")["status"] == "stopped"


def test_delete_force_of_a_container_with_many_processes(limpet: Runtime, bundle: Bundle,
                                                         cgroup: Cgroup) -> None:
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"]
                                            if ns["type"] != "pid"]
    with_resources(bundle, cgroup, {})
    started(limpet, bundle, "many", "i=0; while [ $i -lt 300 ]; do sleep 300 & "
            "i=$((i+1)); done; while true; do sleep 300 & sleep 0.01; done")
    wait_until(lambda: len(cgfs.procs(str(cgroup.dir("pids")))) > 300)
    result = limpet("delete", "--force", "many")
    assert result.returncode == 0, result.stderr
    assert cgroup.left() == []
    assert limpet.containers() == []


def test_delete_of_a_stopped_container_kills_what_its_init_left(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"]
                                            if ns["type"] != "pid"]
    with_resources(bundle, cgroup, {})
    started(limpet, bundle, "orphans", "sleep 300 & sleep 301 & exit 0")
    wait_until(lambda: limpet.state("orphans")["status"] == "stopped")
    assert len(cgfs.procs(str(cgroup.dir("pids")))) == 2
    assert limpet("delete", "orphans").returncode == 0
    assert cgroup.left() == []


def test_cgroup_namespace_has_the_containers_cgroup_as_root(limpet: Runtime, bundle: Bundle,
                                                           cgroup: Cgroup) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    with_resources(bundle, cgroup, {"pids": {"limit": 20}})
    result = run_in(limpet, bundle, "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max; "
                    "ls /sys/fs/cgroup/pids")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    hierarchies = [line for line in lines if line.count(":") >= 2]
    assert hierarchies and all(line.endswith(":/") for line in hierarchies), lines
    assert "20" in lines                                # its own pids.max, seen as the root
    assert PARENT not in result.stdout


def test_systemd_backend_fails_with_the_reason(limpet: Runtime, bundle: Bundle,
                                               tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("backends:\n  cgroups: systemd\n")
    limpet.config_file = str(config)
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), "sd")
    assert result.returncode != 0
    assert "backends.cgroups: backend 'systemd' is unavailable: limpet has no systemd " \
        "cgroup driver" in result.stderr
    assert "available: v1, v2" in result.stderr
    result = limpet("--systemd-cgroup", "create", "--bundle", str(bundle.path), "sd")
    assert result.returncode == 2 and "systemd cgroup driver is not available" in result.stderr


def test_v2_backend_on_the_hybrid_cgroup2_tree_filters_devices_with_bpf(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup, tmp_path: Path) -> None:
    """backends: {cgroups: v2} on this hybrid host: the container lives in the cgroup2 tree,
    whose device filter is a BPF program (the same rules as v1, in the same order)."""
    if not unified_mounts():
        pytest.skip("no cgroup2 mount")
    config = tmp_path / "config.yaml"
    config.write_text("backends:\n  cgroups: v2\n")
    limpet.config_file = str(config)
    bundle.config["linux"]["devices"] = [FUSE]
    allow = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}
    with_resources(bundle, cgroup, {"devices": [DENY_ALL, allow]})
    result = run_in(limpet, bundle, "cat /proc/self/cgroup | grep '^0::'; " + OPEN_RW +
                    "; echo x > /dev/null && echo null-ok")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert f"0::{cgroup.path}" in out
    assert "opened-rw" not in out and "opened-r" in out and "null-ok" in out
    assert os.strerror(errno.EPERM) in out
