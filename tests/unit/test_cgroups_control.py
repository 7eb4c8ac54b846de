"""The cgroups plugin's conversions for every resource, the verbs' logic (pause/resume,
signal_all, update, stats, events) on fake cgroup directories, the CLI's update flags, and
the unavailable systemd backend. No root needed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from limpet.core import cli, config, plugins
from limpet.core.errors import ConfigError, ContainerError, ExecutionError, UsageError
from limpet.core.spec import load_config
from limpet.core.state import status
from limpet.plugins.cgroups import (
    blkio,
    cgfs,
    control,
    controllers,
    cpu,
    cpuset,
    events,
    hugetlb,
    memory,
    rdma,
    stats,
    unified,
    update,
)
from limpet.plugins.cgroups.base import NO_RESOURCES, Setting

# --- conversions ------------------------------------------------------------------------------


def resources_of(resources: dict[str, Any]) -> Any:
    spec = load_config({"ociVersion": "1.3.0", "linux": {"resources": resources}})
    return spec.linux.resources   # type: ignore[union-attr]


def files(settings: list[Setting]) -> list[tuple[str, str]]:
    return [(s.file, s.value) for s in settings]


@pytest.mark.parametrize("weight, io", [(10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_blkio_weight_to_io_weight_is_runcs_conversion(weight: int, io: int) -> None:
    assert blkio.io_weight(weight) == io


def test_blkio_v1_and_v2() -> None:
    res = resources_of({"blockIO": {
        "weight": 500, "leafWeight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}})
    v1 = blkio.v1(res)
    assert files(v1) == [("blkio.bfq.weight", "500"), ("blkio.leaf_weight", "300"),
                         ("blkio.bfq.weight_device", "8:0 600"),
                         ("blkio.leaf_weight_device", "8:0 200"),
                         ("blkio.throttle.read_bps_device", "8:0 100"),
                         ("blkio.throttle.write_iops_device", "8:16 0")]
    assert v1[0].alternatives == (("blkio.weight", "500"),)
    res = resources_of({"blockIO": {
        "weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 600}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}})
    v2 = blkio.v2(res)
    assert files(v2) == [("io.bfq.weight", "500"), ("io.bfq.weight", "8:0 600"),
                         ("io.max", "8:0 rbps=100"), ("io.max", "8:16 wiops=max")]
    assert v2[0].alternatives == (("io.weight", "4950"),)
    assert v2[1].alternatives == (("io.weight", "8:0 5960"),)


def test_hugetlb_rdma_and_unified_files() -> None:
    res = resources_of({"hugepageLimits": [{"pageSize": "2MB", "limit": 4096},
                                           {"pageSize": "1GB", "limit": 0}],
                        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
                                 "mlx4_0": {"hcaObjects": 5}},
                        "unified": {"memory.high": "1G", "cgroup.freeze": "0"}})
    assert files(hugetlb.v1(res)) == [("hugetlb.2MB.limit_in_bytes", "4096"),
                                      ("hugetlb.1GB.limit_in_bytes", "0")]
    assert files(hugetlb.v2(res)) == [("hugetlb.2MB.max", "4096"), ("hugetlb.1GB.max", "0")]
    assert hugetlb.size_kb("64KB") == 64 and hugetlb.size_kb("1GB") == 1048576
    assert files(rdma.v1(res)) == [("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
                                   ("rdma.max", "mlx4_0 hca_handle=max hca_object=5")]
    assert [(s.controller, s.file, s.value) for s in unified.v2(res)] == [
        ("memory", "memory.high", "1G"), ("cgroup", "cgroup.freeze", "0")]


def test_unified_settings_come_last_so_they_override() -> None:
    from limpet.plugins.cgroups.controllers import every

    assert every()[-1] is unified


def test_memory_extras_v1() -> None:
    res = resources_of({"memory": {"kernel": 100, "kernelTCP": 200, "swappiness": 10,
                                   "disableOOMKiller": True, "useHierarchy": True,
                                   "limit": 1000, "checkBeforeUpdate": True}})
    settings = memory.v1(res)
    assert files(settings) == [("memory.kmem.limit_in_bytes", "100"),
                               ("memory.kmem.tcp.limit_in_bytes", "200"),
                               ("memory.limit_in_bytes", "1000"),
                               ("memory.swappiness", "10"), ("memory.oom_control", "1"),
                               ("memory.use_hierarchy", "1")]
    assert settings[0].verify and settings[0].hint == memory.KMEM_HINT
    assert settings[2].usage == "memory.usage_in_bytes"
    v2 = memory.v2(resources_of({"memory": {"limit": 1000, "checkBeforeUpdate": True,
                                            "useHierarchy": True}}))
    assert files(v2) == [("memory.max", "1000")] and v2[0].usage == "memory.current"


def _limits(limit: str, swap: str) -> list[Setting]:
    return [Setting("memory", "memory.limit_in_bytes", limit, "l"),
            Setting("memory", "memory.memsw.limit_in_bytes", swap, "s"),
            Setting("memory", "memory.soft_limit_in_bytes", "5", "r")]


@pytest.mark.parametrize("current, limit, swap, first", [
    (64, "256", "512", "memory.memsw.limit_in_bytes"),   # raising above the current limit
    (256, "32", "48", "memory.limit_in_bytes"),          # lowering
    (64, "-1", "-1", "memory.memsw.limit_in_bytes"),     # both unlimited
])
def test_memory_update_order_is_runcs(current: int, limit: str, swap: str,
                                      first: str) -> None:
    ordered = memory.order_v1(_limits(limit, swap), current)
    assert ordered[0].file == first
    assert ordered[2].file == "memory.soft_limit_in_bytes"


def test_check_before_update_refuses_a_limit_below_the_usage(tmp_path: Path) -> None:
    (tmp_path / "memory.current").write_text("5000\n")
    (tmp_path / "memory.max").write_text("max\n")
    with pytest.raises(ExecutionError, match="already uses 5000 bytes"):
        cgfs.apply(str(tmp_path / "memory.max"), "4096", "linux.resources.memory.limit",
                   usage="memory.current")
    cgfs.apply(str(tmp_path / "memory.max"), "8192", "w", usage="memory.current")
    assert (tmp_path / "memory.max").read_text() == "8192"


# --- update -----------------------------------------------------------------------------------

def test_update_merges_sections_and_replaces_lists() -> None:
    current = {"memory": {"limit": 100, "swap": 200}, "devices": [{"allow": False}],
               "pids": {"limit": 5}}
    merged = update.merge(current, {"memory": {"swap": 300}, "devices": [],
                                    "cpu": {"shares": 2}})
    assert merged == {"memory": {"limit": 100, "swap": 300}, "devices": [],
                      "pids": {"limit": 5}, "cpu": {"shares": 2}}
    assert current["memory"] == {"limit": 100, "swap": 200}


def v1_facts(tmp_path: Path, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    dirs = []
    for controller, names in (("memory", {"memory.limit_in_bytes": "9223372036854771712",
                                          "memory.memsw.limit_in_bytes": "9223372036854771712",
                                          "memory.usage_in_bytes": "0"}),
                              ("pids", {"pids.max": "max"}),
                              ("freezer", {"freezer.state": "THAWED"})):
        directory = tmp_path / controller / "c1"
        directory.mkdir(parents=True)
        (directory / "cgroup.procs").write_text("")
        for name, value in names.items():
            (directory / name).write_text(value)
        dirs.append({"hierarchy": controller, "path": str(directory),
                     "mount": str(tmp_path / controller), "controllers": [controller]})
    return {"cgroups": {"driver": "v1", "dirs": dirs, "resources": resources or {},
                        "owned": True},
            "control": "limpet.plugins.cgroups.control"}


class FakeV1:
    """Stands for V1.from_host(): every controller is there."""

    name = "v1"

    def settings(self, resources: Any, update: bool = False) -> list[Setting]:
        from limpet.plugins.cgroups.controllers import needed

        out: list[Setting] = []
        for module in needed(resources):
            if module.__name__.endswith(".devices") and resources.devices is None:
                continue
            out += module.v1(resources)
        return out

    def check(self, settings: list[Setting]) -> None:
        pass

    def file_for(self, dirs: list[Any], setting: Setting) -> str:
        directory = next(d for d in dirs if setting.controller in d.controllers)
        return str(Path(directory.path) / setting.file)


def test_update_writes_the_requested_sections_and_records_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update.V1, "from_host", classmethod(lambda cls: FakeV1()))
    facts = v1_facts(tmp_path, {"memory": {"limit": 1 << 26}, "pids": {"limit": 10}})
    new = control.update(facts, {"memory": {"swap": 1 << 27}, "pids": {"limit": 20}})
    memory_dir = tmp_path / "memory/c1"
    assert (memory_dir / "memory.memsw.limit_in_bytes").read_text() == str(1 << 27)
    assert (memory_dir / "memory.limit_in_bytes").read_text() == str(1 << 26)  # merged
    assert (tmp_path / "pids/c1/pids.max").read_text() == "20"
    assert new["cgroups"]["resources"] == {"memory": {"limit": 1 << 26, "swap": 1 << 27},
                                           "pids": {"limit": 20}}


@pytest.mark.parametrize("request_, where", [
    ({"memory": {"limit": "lots"}}, "linux.resources.memory.limit"),
    ({"memory": {"swap": 10}}, "linux.resources.memory.swap"),
    ({"cpu": {"shares": 1}}, "linux.resources.cpu.shares"),
    ({"unified": {"memory.high": "1"}}, "linux.resources.unified"),
])
def test_bad_update_is_an_error_naming_the_field(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 request_: dict[str, Any], where: str) -> None:
    monkeypatch.setattr(update.V1, "from_host", classmethod(lambda cls: FakeV1()))
    facts = v1_facts(tmp_path, {"memory": {"limit": 1 << 26}})
    with pytest.raises(Exception) as info:
        control.update(facts, request_)
    assert getattr(info.value, "where", None) == where


# --- freezer, status, signal_all --------------------------------------------------------------

def test_pause_resume_and_paused_status_on_v1(tmp_path: Path) -> None:
    facts = v1_facts(tmp_path)
    assert not control.paused(facts)
    control.pause(facts)
    assert (tmp_path / "freezer/c1/freezer.state").read_text() == "FROZEN"
    assert control.paused(facts)
    data = {"pid": 1, "initStartTime": None, "facts": facts}
    from limpet.core import state

    data["initStartTime"] = state.proc_start_time(1)
    assert status(data, str(tmp_path)) == "paused"
    control.resume(facts)
    assert not control.paused(facts)
    assert status(data, str(tmp_path)) == "running"


def test_pause_on_v2_waits_for_the_kernels_frozen(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cgroup.freeze").write_text("0")
    (tmp_path / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    facts = {"cgroups": {"driver": "v2", "dirs": [{"path": str(tmp_path)}]}}
    control.pause(facts)
    assert (tmp_path / "cgroup.freeze").read_text() == "1"
    assert control.paused(facts)
    (tmp_path / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    from limpet.plugins.cgroups import freezer

    with pytest.raises(ExecutionError, match="did not freeze"):
        freezer.freeze("v2", str(tmp_path), timeout=0.2)
    assert (tmp_path / "cgroup.freeze").read_text() == "0"     # left thawed


def test_pause_without_a_freezer_is_a_clear_error(tmp_path: Path) -> None:
    facts = v1_facts(tmp_path)
    facts["cgroups"]["dirs"] = [d for d in facts["cgroups"]["dirs"]
                                if d["hierarchy"] != "freezer"]
    with pytest.raises(ContainerError, match="no freezer"):
        control.pause(facts)


def test_signal_all_freezes_signals_every_process_and_thaws(tmp_path: Path) -> None:
    facts = v1_facts(tmp_path)
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                for _ in range(2)]
    try:
        (tmp_path / "pids/c1/cgroup.procs").write_text(
            "".join(f"{c.pid}\n" for c in children))
        assert control.pids(facts) == sorted(c.pid for c in children)
        control.signal_all(facts, signal.SIGTERM)
        assert [c.wait(10) for c in children] == [-signal.SIGTERM, -signal.SIGTERM]
        assert (tmp_path / "freezer/c1/freezer.state").read_text() == "THAWED"
    finally:
        for c in children:
            c.kill()
            c.wait()


def test_signal_all_keeps_a_paused_container_paused_unless_killed(tmp_path: Path) -> None:
    facts = v1_facts(tmp_path)
    control.pause(facts)
    control.signal_all(facts, signal.SIGUSR1)          # no process: nothing to signal
    assert control.paused(facts)
    control.signal_all(facts, signal.SIGKILL)          # a frozen v1 task dies when thawed
    assert not control.paused(facts)


def test_signal_all_uses_cgroup_kill_for_sigkill_on_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.kill").write_text("")
    (tmp_path / "cgroup.freeze").write_text("0")
    (tmp_path / "cgroup.procs").write_text("999999\n")
    facts = {"cgroups": {"driver": "v2", "dirs": [{"path": str(tmp_path)}]}}
    control.signal_all(facts, signal.SIGKILL)
    assert (tmp_path / "cgroup.kill").read_text() == "1"


def test_orphans_only_in_the_containers_own_cgroups(tmp_path: Path) -> None:
    facts = v1_facts(tmp_path)
    (tmp_path / "pids/c1/cgroup.procs").write_text("4242\n")
    assert control.orphans(facts) == [4242]
    facts["cgroups"]["owned"] = False      # a joined cgroup: others' processes
    assert control.orphans(facts) == []


# --- stats and events -------------------------------------------------------------------------

def test_stats_v1_in_runcs_shape(tmp_path: Path) -> None:
    for directory, content in {
        "cpuacct": {"cpuacct.usage": "5000", "cpuacct.usage_percpu": "3000 2000",
                    "cpuacct.stat": "user 2\nsystem 1\n"},
        "cpu": {"cpu.stat": "nr_periods 4\nnr_throttled 1\nthrottled_time 77\n"},
        "memory": {"memory.stat": "cache 4096\nrss 8192\n", "memory.usage_in_bytes": "12288",
                   "memory.limit_in_bytes": "65536", "memory.max_usage_in_bytes": "20000",
                   "memory.failcnt": "3"},
        "pids": {"pids.current": "2", "pids.max": "max"},
        "blkio": {"blkio.throttle.io_service_bytes_recursive":
                  "8:0 Read 100\n8:0 Write 50\nTotal 150\n"},
    }.items():
        (tmp_path / directory).mkdir()
        for name, value in content.items():
            (tmp_path / directory / name).write_text(value)
    data = stats.v1({c: str(tmp_path / c) for c in ("cpu", "cpuacct", "memory", "pids",
                                                     "blkio")})
    ticks = stats.CLOCK_TICKS
    assert data["cpu"]["usage"] == {"total": 5000, "percpu": [3000, 2000],
                                    "kernel": 10**9 // ticks, "user": 2 * 10**9 // ticks}
    assert data["cpu"]["throttling"] == {"periods": 4, "throttled_periods": 1,
                                         "throttled_time": 77}
    assert data["memory"]["cache"] == 4096
    assert data["memory"]["usage"] == {"limit": 65536, "usage": 12288, "max": 20000,
                                       "failcnt": 3}
    assert data["memory"]["raw"] == {"cache": 4096, "rss": 8192}
    assert data["pids"] == {"current": 2, "limit": 0}
    assert data["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 100},
        {"major": 8, "minor": 0, "op": "Write", "value": 50}]
    json.dumps(data)


def test_stats_v2_in_runcs_shape(tmp_path: Path) -> None:
    for name, value in {"cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\n",
                        "memory.current": "4096", "memory.max": "max",
                        "memory.stat": "file 1024\nanon 2048\n",
                        "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
                        "memory.swap.current": "0", "memory.swap.max": "max",
                        "pids.current": "3", "pids.max": "40",
                        "io.stat": "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
                        "hugetlb.2MB.current": "0", "hugetlb.2MB.max": "max"}.items():
        (tmp_path / name).write_text(value)
    data = stats.v2(str(tmp_path))
    assert data["cpu"]["usage"]["total"] == 10000 and data["cpu"]["usage"]["user"] == 6000
    assert data["memory"]["usage"] == {"limit": stats.MAX_UINT64, "usage": 4096, "max": 0,
                                       "failcnt": 2}
    assert data["memory"]["cache"] == 1024
    assert data["pids"] == {"current": 3, "limit": 40}
    assert data["blkio"]["ioServicedRecursive"] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 1},
        {"major": 254, "minor": 0, "op": "Write", "value": 2}]
    assert data["hugetlb"] == {"2MB": {"usage": 0, "max": 0, "failcnt": 0}}


def test_v2_oom_watch_counts_oom_kills(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text("oom 0\noom_kill 2\n")
    watch = events.OomWatch("v2", str(tmp_path))
    try:
        assert watch.last == 2
        (tmp_path / "memory.events").write_text("oom 1\noom_kill 3\n")
        assert watch._oom_kills() == 3
    finally:
        watch.close()


def test_stream_emits_ooms_and_stats_until_the_container_stops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    script = iter([1, 0, 2, 0, 0])

    class Watch:
        def __init__(self, driver: str, directory: str | None) -> None:
            pass

        def wait(self, timeout: float) -> int:
            return next(script)

        def close(self) -> None:
            pass

    monkeypatch.setattr(events, "OomWatch", Watch)
    lives = iter([True, True, True, True, False])
    out: list[dict[str, Any]] = []
    events.stream("v2", "/x", "c1", 0.0, lambda: {"n": 1}, lambda: next(lives), out.append)
    assert [e["type"] for e in out] == ["oom", "stats", "stats", "oom", "oom", "stats",
                                        "stats"]
    assert out[1] == {"type": "stats", "id": "c1", "data": {"n": 1}}


# --- the CLI ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("1048576", 1048576), ("512m", 512 << 20),
                                         ("1G", 1 << 30), ("-1", -1), ("64k", 65536),
                                         ("1.5g", 3 << 29), ("100MiB", 100 << 20)])
def test_update_sizes_take_units(text: str, value: int) -> None:
    assert cli.parse_size("--memory", text) == value


@pytest.mark.parametrize("text, seconds", [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0),
                                           ("2h", 7200.0)])
def test_events_interval_is_a_go_duration(text: str, seconds: float) -> None:
    assert cli.parse_duration("--interval", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "fast", "0s", "-1s"])
def test_bad_interval_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        cli.parse_duration("--interval", text)
    assert info.value.where == "--interval"


def test_update_flags_become_linux_resources(tmp_path: Path) -> None:
    args = cli._parser().parse_args([
        "update", "--memory", "256m", "--memory-swap", "-1", "--cpu-shares", "512",
        "--cpu-quota", "-1", "--cpuset-cpus", "0-1", "--pids-limit", "50",
        "--blkio-weight", "300", "--memory-reservation", "1g", "c1"])
    assert cli.update_request(args) == {
        "memory": {"limit": 256 << 20, "swap": -1, "reservation": 1 << 30},
        "cpu": {"shares": 512, "quota": -1, "cpus": "0-1"},
        "pids": {"limit": 50}, "blockIO": {"weight": 300}}
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"memory": {"limit": 1}, "unified": {"memory.high": "5"}}))
    args = cli._parser().parse_args(["update", "-r", str(request), "--memory", "2", "c1"])
    assert cli.update_request(args) == {"memory": {"limit": 2},
                                        "unified": {"memory.high": "5"}}


@pytest.mark.parametrize("argv, where", [
    (["update", "c1"], "update"),
    (["update", "--pids-limit", "many", "c1"], "--pids-limit"),
    (["update", "--memory", "1x", "c1"], "--memory"),
    (["update", "-r", "/nonexistent/r.json", "c1"], "--resources"),
])
def test_bad_update_arguments_are_usage_errors(argv: list[str], where: str) -> None:
    with pytest.raises(UsageError) as info:
        cli.update_request(cli._parser().parse_args(argv))
    assert info.value.where == where


def test_new_verbs_parse() -> None:
    parser = cli._parser()
    assert parser.parse_args(["pause", "c1"]).container_id == "c1"
    assert parser.parse_args(["resume", "c1"]).verb == "resume"
    args = parser.parse_args(["ps", "--format", "json", "c1"])
    assert (args.format, args.ps_args) == ("json", [])
    assert parser.parse_args(["ps", "c1", "-o", "pid"]).ps_args == ["-o", "pid"]
    args = parser.parse_args(["events", "--stats", "--interval", "2s", "c1"])
    assert (args.stats, args.interval) == (True, "2s")
    for verb in ("pause", "resume", "update", "ps", "events"):
        assert verb in cli.COMMANDS


# --- the systemd backend ----------------------------------------------------------------------

def test_choosing_the_systemd_backend_is_a_config_error_with_the_reason(
        tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("backends:\n  cgroups: systemd\n")
    runtime_config, doc, where = config.load(str(path))
    with pytest.raises(ConfigError) as info:
        plugins.load(runtime_config, doc, where)
    message = str(info.value)
    assert "backends.cgroups: backend 'systemd' is unavailable: limpet has no systemd " \
           "cgroup driver" in message
    assert message.endswith("available: v1, v2")
    path.write_text("backends:\n  cgroups: v3\n")
    runtime_config, doc, where = config.load(str(path))
    with pytest.raises(ConfigError, match="unknown backend 'v3'; available: v1, v2$"):
        plugins.load(runtime_config, doc, where)


# --- controller modules are imported only for the sections present -----------------------

EVERY_SECTION: dict[str, Any] = {
    "devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 1 << 30},
    "cpu": {"shares": 512, "cpus": "0", "mems": "0"}, "pids": {"limit": 10},
    "blockIO": {"weight": 100}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    "network": {"classID": 1}, "rdma": {"mlx4_0": {"hcaHandles": 1}},
    "unified": {"memory.high": "1G"},
}


@pytest.mark.parametrize("entry", [e for e in controllers.ORDER if e[2] != "devices"],
                         ids=lambda e: e[2])
def test_a_controller_module_reads_only_its_own_section(entry: tuple[str, str, str]) -> None:
    """What lets controllers.needed skip (and not import) a module whose section is absent:
    with every other section set, the module has nothing to write or refuse."""
    attr, key, name = entry
    others = resources_of({k: v for k, v in EVERY_SECTION.items() if k != key})
    module = controllers.controller(name)
    assert getattr(others, attr) is None
    module.validate(others)
    assert module.v1(others) == [] and module.v2(others) == []


def test_needed_names_the_present_sections_in_writing_order() -> None:
    names = [m.__name__.rpartition(".")[2] for m in controllers.needed(
        resources_of({"unified": {"memory.high": "1G"}, "cpu": {"shares": 2}}))]
    assert names == ["devices", "cpu", "cpuset", "unified"]
    assert [m.__name__.rpartition(".")[2] for m in controllers.needed(NO_RESOURCES)] == \
        ["devices"]


def test_supported_fields_come_from_the_modules() -> None:
    assert controllers.supported("cpu") == cpu.SUPPORTED + cpuset.SUPPORTED
    assert controllers.supported("unified") is None
    assert controllers.supported("intelRdt") == ()


def test_loading_the_plugin_imports_no_limit_controller() -> None:
    code = ("import sys, limpet.plugins.cgroups.plugin; print(sorted(m for m in sys.modules "
            "if m.startswith('limpet.plugins.cgroups.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    loaded = {m.rpartition(".")[2] for m in json.loads(out.replace("'", '"'))}
    assert not loaded & {"memory", "cpu", "cpuset", "pids", "blkio", "hugetlb", "network",
                         "rdma", "unified"}
