"""The init's warm-up of the cgroup attach lock (core/cgroupwarm.py): it finds its own
cgroup's cgroup.procs, takes the lock there without moving, and stops when the plan comes."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from limpet.core import cgroupwarm

HYBRID_CGROUP = """12:pids:/user.slice
11:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
"""
HYBRID_MOUNTINFO = """22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
31 22 0:27 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
35 22 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
"""


def procs_file(tmp_path: Path, cgroup: str, mountinfo: str) -> str | None:
    (tmp_path / "cgroup").write_text(cgroup)
    (tmp_path / "mountinfo").write_text(mountinfo)
    return cgroupwarm.own_procs_file(str(tmp_path / "cgroup"), str(tmp_path / "mountinfo"))


def test_the_first_mounted_hierarchy_gives_the_own_cgroup(tmp_path: Path) -> None:
    assert procs_file(tmp_path, HYBRID_CGROUP, HYBRID_MOUNTINFO) == \
        "/sys/fs/cgroup/unified/user.slice/session-1.scope/cgroup.procs"


def test_a_v1_hierarchy_is_matched_by_its_controllers_or_name(tmp_path: Path) -> None:
    lines = [line + "\n" for line in HYBRID_MOUNTINFO.splitlines() if "cgroup2" not in line]
    assert procs_file(tmp_path, HYBRID_CGROUP, "".join(lines)) == \
        "/sys/fs/cgroup/systemd/user.slice/session-1.scope/cgroup.procs"
    assert procs_file(tmp_path, HYBRID_CGROUP, "".join(lines[:1] + lines[2:])) == \
        "/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs"


def test_a_mount_of_a_subtree_is_joined_below_its_root(tmp_path: Path) -> None:
    mountinfo = "40 1 0:26 /kubepods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert procs_file(tmp_path, "0::/kubepods/pod1/c1\n", mountinfo) == \
        "/sys/fs/cgroup/pod1/c1/cgroup.procs"
    assert procs_file(tmp_path, "0::/kubepods\n", mountinfo) == "/sys/fs/cgroup/cgroup.procs"
    assert procs_file(tmp_path, "0::/other\n", mountinfo) is None   # outside the mount


def test_no_cgroupfs_mounted_means_no_warm_up(tmp_path: Path) -> None:
    assert procs_file(tmp_path, HYBRID_CGROUP, "22 1 0:20 / /sys rw - sysfs sysfs rw\n") \
        is None
    assert cgroupwarm.own_procs_file(str(tmp_path / "absent"), "/proc/self/mountinfo") is None


def test_nothing_to_write_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroupwarm, "own_procs_file", lambda: None)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert cgroupwarm.keep_warm(theirs.fileno()) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="writes this process's cgroup.procs")
def test_the_lock_is_taken_until_the_plan_comes_and_the_process_stays_put() -> None:
    before = Path("/proc/self/cgroup").read_text()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        timer = threading.Timer(0.05, ours.send, (b"plan",))
        timer.start()
        taken = cgroupwarm.keep_warm(theirs.fileno(), interval=0.004, limit=5.0)
        timer.join()
    assert taken >= 1
    assert Path("/proc/self/cgroup").read_text() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="writes this process's cgroup.procs")
def test_the_warm_up_ends_after_its_limit_without_a_plan() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert cgroupwarm.keep_warm(theirs.fileno(), interval=0.001, limit=0.02) >= 1


def test_a_malformed_cgroup_line_is_skipped(tmp_path: Path) -> None:
    assert procs_file(tmp_path, "garbage\n" + HYBRID_CGROUP, HYBRID_MOUNTINFO) == \
        "/sys/fs/cgroup/unified/user.slice/session-1.scope/cgroup.procs"
