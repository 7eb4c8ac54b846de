"""linux.resources on a pure cgroup v2 host (config-linux.md#control-groups): the VM lane.

Run by .ci/run inside ../shared/vm/vm-cgroup2.sh (a QEMU guest whose only hierarchy is
cgroup2 at /sys/fs/cgroup, every controller enabled), in one boot:
``pytest -m cgroupv2 tests``. Elsewhere these tests skip (VM_CGROUP2_GUEST is unset).

The same behaviours as the v1 tests, on the v2 files: memory.max (the kernel rounds it down
to a page multiple), memory.swap.max (swap alone), pids.max, cpu.max, cpu.weight, io.max on
the guest's scratch disk /dev/vda, cgroup.freeze, cgroup.kill, the BPF device filter, and no
cgroup directory left after a test.
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
from limpet.plugins.cgroups import cgfs

from tests.conftest import LIMPET, Bundle, Runtime, run_in

pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroupv2,
    pytest.mark.skipif(os.environ.get("VM_CGROUP2_GUEST") != "1",
                       reason="runs in the cgroup v2 VM lane (VM_CGROUP2_GUEST=1)"),
]

ROOT = Path("/sys/fs/cgroup")
MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
PARENT = "limpet-test"


class Cgroup:
    """A unique /limpet-test/<name> cgroup in the unified hierarchy."""

    def __init__(self) -> None:
        self.name = f"t-{uuid.uuid4().hex[:10]}"
        self.path = f"/{PARENT}/{self.name}"
        self.dir = ROOT / PARENT / self.name

    def read(self, file: str) -> str:
        return (self.dir / file).read_text().strip()

    def procs(self) -> list[int]:
        return cgfs.procs(str(self.dir))

    def cleanup(self) -> None:
        if self.dir.exists():
            with contextlib.suppress(OSError):
                (self.dir / "cgroup.kill").write_text("1")
            cgfs.remove(str(self.dir))
        with contextlib.suppress(OSError):
            os.rmdir(ROOT / PARENT)


@pytest.fixture
def cgroup(limpet: Runtime) -> Iterator[Cgroup]:
    group = Cgroup()
    yield group
    for container_id in limpet.containers():
        limpet("delete", "--force", container_id)
    left = group.dir.exists()
    group.cleanup()
    assert not left, f"{group.dir} was left behind"


def with_resources(bundle: Bundle, cgroup: Cgroup, resources: dict[str, Any]) -> Bundle:
    bundle.config["linux"]["cgroupsPath"] = cgroup.path
    bundle.config["linux"]["resources"] = resources
    return bundle


def signal_dir(bundle: Bundle, tmp_path: Path) -> Path:
    path = tmp_path / "signal"
    path.mkdir()
    bundle.config["mounts"].append({"destination": "/signal", "type": "bind",
                                    "source": str(path), "options": ["rbind", "rw"]})
    return path


def started(limpet: Runtime, bundle: Bundle, name: str, script: str) -> None:
    bundle.set_args("/bin/sh", "-c", script).write()
    result = limpet("create", "--bundle", str(bundle.path), name)
    assert result.returncode == 0, result.stderr
    assert limpet("start", name).returncode == 0


def wait_until(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def written(path: Path) -> str:
    """The stripped text of *path* once the container has written it, not merely created it."""
    wait_until(lambda: path.exists() and path.read_text().strip() != "")
    return path.read_text().strip()


def disk() -> str:
    return Path("/sys/block/vda/dev").read_text().strip()


def test_limits_read_back_from_the_v2_files(limpet: Runtime, bundle: Bundle,
                                            cgroup: Cgroup) -> None:
    major, minor = (int(x) for x in disk().split(":"))
    resources = {
        "memory": {"limit": 100000000, "reservation": 32 * MIB, "swap": 200000000},
        "pids": {"limit": 33},
        "cpu": {"shares": 1024, "quota": 20000, "period": 50000, "cpus": "0", "mems": "0"},
        "blockIO": {"weight": 300,
                    "throttleReadBpsDevice": [{"major": major, "minor": minor,
                                               "rate": 10 * MIB}],
                    "throttleWriteIOPSDevice": [{"major": major, "minor": minor,
                                                 "rate": 500}]},
        "unified": {"memory.high": "90000000"},
    }
    with_resources(bundle, cgroup, resources).set_args("/bin/true").write()
    result = limpet("create", "--bundle", str(bundle.path), "limits")
    assert result.returncode == 0, result.stderr
    assert cgroup.read("memory.max") == str(100000000 // PAGE * PAGE)   # 99999744
    assert cgroup.read("memory.low") == str(32 * MIB)
    assert cgroup.read("memory.swap.max") == str(100000000 // PAGE * PAGE)   # swap - limit
    assert cgroup.read("memory.high") == str(90000000 // PAGE * PAGE)
    assert cgroup.read("pids.max") == "33"
    assert cgroup.read("cpu.max") == "20000 50000"
    assert cgroup.read("cpu.weight") == "39"                     # runc's conversion of 1024
    assert cgroup.read("cpuset.cpus") == "0"
    io_max = cgroup.read("io.max")
    assert f"{disk()} rbps={10 * MIB} wbps=max riops=max wiops=500" in io_max
    if (cgroup.dir / "io.bfq.weight").exists():
        assert cgroup.read("io.bfq.weight").split()[-1] == "300"
    elif (cgroup.dir / "io.weight").exists():
        assert cgroup.read("io.weight").split()[-1] == str(1 + (300 - 10) * 9999 // 990)
    assert limpet("delete", "limits").returncode == 0


def test_device_filter_is_a_bpf_program_applying_the_rules_in_order(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    kmsg = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o622}
    bundle.config["linux"]["devices"] = [kmsg]
    deny_all = {"allow": False, "access": "rwm"}
    allow_w = {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"}
    deny_w = {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "w"}
    script = ("(echo limpet-test > /dev/kmsg) && echo wrote; echo x > /dev/null && "
              "echo null-ok; true")
    outputs = []
    for rules in ([deny_all], [deny_all, allow_w], [deny_all, allow_w, deny_w]):
        with_resources(bundle, cgroup, {"devices": rules})
        result = run_in(limpet, bundle, script)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    denied, allowed, denied_again = outputs
    assert "wrote" not in denied and os.strerror(errno.EPERM) in denied
    assert "wrote" in allowed
    assert "wrote" not in denied_again
    assert all("null-ok" in out for out in outputs)     # the defaults stay allowed


def test_fork_loop_is_stopped_by_pids_max(limpet: Runtime, bundle: Bundle, cgroup: Cgroup,
                                          tmp_path: Path) -> None:
    signals = signal_dir(bundle, tmp_path)
    with_resources(bundle, cgroup, {"pids": {"limit": 10}})
    started(limpet, bundle, "forks", "(i=0; while [ $i -lt 30 ]; do sleep 300 & "
            "i=$((i+1)); done) 2>/dev/null; echo done > /signal/done; exec sleep 300")
    wait_until(lambda: (signals / "done").exists())
    events = dict(line.split() for line in cgroup.read("pids.events").splitlines())
    assert int(events["max"]) > 0
    assert 8 <= int(cgroup.read("pids.current")) <= 10


def test_oom_kill_under_memory_max_is_reported_by_events(limpet: Runtime, bundle: Bundle,
                                                         cgroup: Cgroup,
                                                         tmp_path: Path) -> None:
    signals = signal_dir(bundle, tmp_path)
    with_resources(bundle, cgroup, {"memory": {"limit": 16 * MIB, "swap": 16 * MIB}})
    # the hog raises its own oom_score_adj: the OOM killer takes it, never the reporting shell
    started(limpet, bundle, "oom", "while [ ! -e /signal/go ]; do sleep 0.1; done; "
            "sh -c 'echo 1000 > /proc/self/oom_score_adj; "
            "x=$(head -c 50331648 /dev/zero | tr \"\\0\" a)'; "
            "echo $? > /signal/status; sleep 300")
    events = subprocess.Popen([LIMPET, "--root", limpet.root, "events", "--interval", "2s",
                               "oom"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "LIMPET_CONFIG": str(limpet.config_file)})
    try:
        assert events.stdout is not None
        first = json.loads(events.stdout.readline())
        assert first["type"] == "stats"
        assert first["data"]["memory"]["usage"]["limit"] == 16 * MIB
        (signals / "go").touch()
        types: list[str] = []
        while "oom" not in types and len(types) < 60:
            types.append(json.loads(events.stdout.readline())["type"])
        assert "oom" in types
    finally:
        events.kill()
        events.wait()
    assert written(signals / "status") == str(128 + signal.SIGKILL)
    counters = dict(line.split() for line in cgroup.read("memory.events").splitlines())
    assert int(counters["oom_kill"]) >= 1


def test_pause_resume_update_ps_and_kill_all(limpet: Runtime, bundle: Bundle,
                                             cgroup: Cgroup, tmp_path: Path) -> None:
    signals = signal_dir(bundle, tmp_path)
    with_resources(bundle, cgroup, {"memory": {"limit": 64 * MIB}, "pids": {"limit": 20}})
    started(limpet, bundle, "verbs", "sleep 300 & while [ ! -e /signal/go ]; do sleep 0.1; "
            "done; cat /sys/fs/cgroup/pids.max > /signal/seen; wait")
    wait_until(lambda: len(cgroup.procs()) >= 2)
    # pause / resume: cgroup.freeze, and the kernel's word in cgroup.events
    assert limpet("pause", "verbs").returncode == 0
    assert limpet.state("verbs")["status"] == "paused"
    assert cgroup.read("cgroup.freeze") == "1"
    assert "frozen 1" in cgroup.read("cgroup.events")
    (signals / "go").touch()
    assert limpet("resume", "verbs").returncode == 0
    assert limpet.state("verbs")["status"] == "running"
    assert "frozen 0" in cgroup.read("cgroup.events")
    # update, seen inside through the container's own cgroup2 mount
    result = limpet("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "40",
                    "--cpu-quota", "30000", "--cpu-period", "100000", "verbs")
    assert result.returncode == 0, result.stderr
    assert cgroup.read("memory.max") == str(128 * MIB)
    assert cgroup.read("memory.swap.max") == str(128 * MIB)       # 256m - 128m
    assert cgroup.read("pids.max") == "40"
    assert cgroup.read("cpu.max") == "30000 100000"
    result = limpet("update", "--resources", "-", "verbs",
                    input=json.dumps({"unified": {"pids.max": "45"}}))
    assert result.returncode == 0, result.stderr
    assert cgroup.read("pids.max") == "45"
    assert written(signals / "seen") in ("20", "40", "45")
    # ps: the host pids of the cgroup
    listed = json.loads(limpet("ps", "--format", "json", "verbs").stdout)
    assert sorted(listed) == sorted(cgroup.procs())
    # kill --all: cgroup.kill, even for a paused container
    assert limpet("pause", "verbs").returncode == 0
    assert limpet("kill", "--all", "verbs", "KILL").returncode == 0
    wait_until(lambda: cgroup.procs() == [])
    assert limpet.state("verbs")["status"] == "stopped"


def test_delete_force_of_a_container_with_many_processes(limpet: Runtime, bundle: Bundle,
                                                         cgroup: Cgroup) -> None:
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"]
                                            if ns["type"] != "pid"]
    with_resources(bundle, cgroup, {})
    started(limpet, bundle, "many", "i=0; while [ $i -lt 100 ]; do sleep 300 & "
            "i=$((i+1)); done; while true; do sleep 300 & sleep 0.05; done")
    wait_until(lambda: len(cgroup.procs()) > 100, timeout=300)
    result = limpet("delete", "--force", "many", timeout=300)
    assert result.returncode == 0, result.stderr
    assert not cgroup.dir.exists()


def test_cgroup_namespace_and_mount_show_the_containers_own_cgroup(
        limpet: Runtime, bundle: Bundle, cgroup: Cgroup) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    with_resources(bundle, cgroup, {"pids": {"limit": 21}})
    result = run_in(limpet, bundle, "cat /proc/self/cgroup /sys/fs/cgroup/pids.max; "
                    "grep ' /sys/fs/cgroup ' /proc/self/mountinfo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0::/"
    assert lines[1] == "21"
    assert " ro," in lines[2] and "cgroup2" in lines[2]


def test_v1_only_fields_are_refused_on_v2(limpet: Runtime, bundle: Bundle,
                                          cgroup: Cgroup) -> None:
    with_resources(bundle, cgroup, {"memory": {"swappiness": 10}}).write()
    result = limpet("create", "--bundle", str(bundle.path), "v1only")
    assert result.returncode != 0
    assert "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness" \
        in result.stderr
    assert not cgroup.dir.exists()
