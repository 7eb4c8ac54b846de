"""The cgroups plugin without root: cgroupsPath resolution, validation (fail closed, errors
name the config path), v1/v2 conversions, the plan, and the op handlers run against a fake
cgroupfs in tmp_path (config-linux.md#control-groups)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from limpet.core.context import HostInfo, PlanContext
from limpet.core.create import ParentContext, run_parent_ops, run_teardown
from limpet.core.errors import ExecutionError, SpecError
from limpet.core.plan import Plan
from limpet.core.pluginapi import Backend
from limpet.core.spec import load_config
from limpet.plugins.cgroups import (
    bpf_devices,
    cgfs,
    cpu,
    devices,
    host,
    hugetlb,
    memory,
    ops,
    options,
    paths,
    pids,
    plugin,
)
from limpet.plugins.cgroups.base import CgroupDir
from limpet.plugins.cgroups.v1 import V1
from limpet.plugins.cgroups.v2 import V2

# --- a fake cgroupfs ------------------------------------------------------------------------

#: v1 hierarchy -> the control files the fake kernel creates in each of its cgroups.
V1_FILES: dict[str, tuple[str, ...]] = {
    "cpu,cpuacct": ("cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us",
                    "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"),
    "cpuset": ("cpuset.cpus", "cpuset.mems"),
    "memory": ("memory.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes",
               "memory.kmem.tcp.limit_in_bytes", "memory.swappiness", "memory.oom_control",
               "memory.use_hierarchy", "memory.usage_in_bytes"),
    "devices": ("devices.allow", "devices.deny"),
    "freezer": ("freezer.state",),
    "pids": ("pids.max",),
    "blkio": ("blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device",
              "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
              "blkio.throttle.write_iops_device"),
    "hugetlb": ("hugetlb.2MB.limit_in_bytes",),
    "net_cls,net_prio": ("net_cls.classid", "net_prio.ifpriomap"),
    "rdma": ("rdma.max",),
    "name=systemd": (),
}
V2_FILES: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"),
    "cpuset": ("cpuset.cpus", "cpuset.mems"),
    "memory": ("memory.max", "memory.low", "memory.swap.max", "memory.high", "memory.current"),
    "pids": ("pids.max",),
    "io": ("io.weight", "io.max"),
    "hugetlb": ("hugetlb.2MB.max",),
    "rdma": ("rdma.max",),
}
#: Files whose fresh value is not empty.
INITIAL = {"memory.usage_in_bytes": "0", "memory.current": "0", "freezer.state": "THAWED",
           "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0"}


class FakeCgroupFS:
    """Mount points under tmp_path, a mountinfo and a /proc/self/cgroup describing them, and
    a "kernel" (cgfs.mkdir/rmdir replaced) that fills new cgroups with their files."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str = "v1",
                 own: str = "/", memsw: bool = True,
                 v2_controllers: str = "cpu cpuset io memory pids hugetlb rdma") -> None:
        self.version = version
        self.root = tmp_path / "cgroup"
        self.mountinfo = tmp_path / "mountinfo"
        self.proc_cgroup = tmp_path / "proc-self-cgroup"
        self.memsw = memsw
        self.mounts: dict[str, Path] = {}
        mount_lines, cgroup_lines = [], []
        if version == "v1":
            for i, key in enumerate(V1_FILES):
                mount = self.root / key.split("=")[-1]
                mount.mkdir(parents=True)
                self.mounts[key] = mount
                mount_lines.append(f"{30 + i} 23 0:{40 + i} / {mount} rw,nosuid - cgroup cgroup "
                                   f"rw,{key}")
                cgroup_lines.append(f"{i + 1}:{key}:{own}")
                self.populate(mount, key, top=True)
        else:
            self.root.mkdir()
            self.mounts[""] = self.root
            mount_lines.append(f"41 23 0:38 / {self.root} rw - cgroup2 cgroup2 rw,nsdelegate")
            cgroup_lines.append(f"0::{own}")
            (self.root / "cgroup.controllers").write_text(v2_controllers + "\n")
            (self.root / "cgroup.subtree_control").write_text("")
            (self.root / "cgroup.procs").write_text("1\n")
        mount_lines.append("22 1 0:21 / /proc rw - proc proc rw")
        self.mountinfo.write_text("\n".join(mount_lines) + "\n")
        self.proc_cgroup.write_text("\n".join(cgroup_lines) + "\n")
        self.writes: list[tuple[str, str]] = []
        real_write = cgfs.write

        def spy(path: str, value: str, where: str | None, hint: str | None = None) -> None:
            self.writes.append((path, value))
            real_write(path, value, where, hint)

        monkeypatch.setattr(cgfs, "mkdir", self.mkdir)
        monkeypatch.setattr(cgfs, "rmdir", self.rmdir)
        monkeypatch.setattr(cgfs, "write", spy)

    def hierarchy(self, path: Path) -> str:
        for key, mount in self.mounts.items():
            if path == mount or mount in path.parents:
                return key
        raise AssertionError(f"{path} is in no fake hierarchy")

    def populate(self, directory: Path, key: str, top: bool = False) -> None:
        (directory / "cgroup.procs").write_text("")
        if self.version == "v1":
            for name in V1_FILES[key]:
                if name.startswith("memory.memsw") and not self.memsw:
                    continue
                value = {"cpuset.cpus": "0-3", "cpuset.mems": "0"}.get(name, "") if top else ""
                (directory / name).write_text(INITIAL.get(name, value))
            return
        for name in ("cgroup.freeze", "cgroup.events", "cgroup.kill"):
            (directory / name).write_text(INITIAL.get(name, ""))
        enabled = (directory.parent / "cgroup.subtree_control").read_text()
        controllers = [c.lstrip("+") for c in enabled.split()]
        (directory / "cgroup.controllers").write_text(" ".join(controllers))
        (directory / "cgroup.subtree_control").write_text("")
        for controller in controllers:
            for name in V2_FILES.get(controller, ()):
                (directory / name).write_text(INITIAL.get(name, ""))

    def mkdir(self, path: str) -> bool:
        target = Path(path)
        if target.exists():
            return False
        target.mkdir()
        self.populate(target, self.hierarchy(target))
        return True

    def rmdir(self, path: str) -> None:
        target = Path(path)
        if (target / "cgroup.procs").exists() and (target / "cgroup.procs").read_text().strip():
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        for child in target.iterdir():
            if child.is_file():
                child.unlink()
        os.rmdir(path)

    def driver(self) -> Any:
        if self.version == "v1":
            return V1.from_host(str(self.mountinfo), str(self.proc_cgroup))
        return V2.from_host(str(self.mountinfo), str(self.proc_cgroup))

    def backend(self) -> Backend:
        return Backend("cgroups", self.version, self.driver)

    def ctx(self, container_id: str = "c1", rootless: bool = False,
            options: Any = None) -> PlanContext:
        return PlanContext(container_id, "/bundle", "/run/limpet/" + container_id,
                           HostInfo(namespaces=frozenset(), rootless=rootless),
                           options={"cgroups": options} if options else {},
                           backends={"cgroups": self.backend()})

    def leaf(self, key: str, cgroup: str) -> Path:
        return self.mounts[key] / cgroup.lstrip("/")


@pytest.fixture
def fake_v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupFS:
    return FakeCgroupFS(tmp_path, monkeypatch)


@pytest.fixture
def fake_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupFS:
    return FakeCgroupFS(tmp_path, monkeypatch, version="v2")


# --- helpers ----------------------------------------------------------------------------------

def make_spec(cgroups_path: str | None = None, resources: dict[str, Any] | None = None) -> Any:
    linux: dict[str, Any] = {}
    if cgroups_path is not None:
        linux["cgroupsPath"] = cgroups_path
    if resources is not None:
        linux["resources"] = resources
    return load_config({"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "linux": linux})


def resources_of(resources: dict[str, Any]) -> Any:
    return make_spec(resources=resources).linux.resources


def validate_error(fake: FakeCgroupFS, resources: dict[str, Any] | None = None,
                   cgroups_path: str | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        plugin.limpet_validate(spec=make_spec(cgroups_path, resources), ctx=fake.ctx())
    return info.value


def make_plan(fake: FakeCgroupFS, spec: Any, **ctx_args: Any) -> Plan:
    plan = Plan(handlers=plugin.limpet_op_handlers())
    ctx = fake.ctx(**ctx_args)
    plugin.limpet_validate(spec=spec, ctx=ctx)
    plan.current_plugin = "cgroups"
    plugin.limpet_plan(spec=spec, plan=plan, ctx=ctx)
    return plan


class FakeBPF:
    """The bpf(2) calls of the device filter, recorded: programs get ids, cgroups (by
    directory inode) keep the ids attached to them."""

    def __init__(self) -> None:
        self.programs: dict[int, bytes] = {}
        self.attached: dict[int, list[int]] = {}
        self.fds: dict[int, int] = {}     # fd -> program id

    def _fd(self, prog_id: int) -> int:
        fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.fds[fd] = prog_id
        return fd

    def bpf_prog_load_cgroup_device(self, insns: bytes, license: str) -> int:
        prog_id = len(self.programs) + 1
        self.programs[prog_id] = insns
        return self._fd(prog_id)

    def bpf_prog_query_cgroup_device(self, cgroup_fd: int) -> list[int]:
        return list(self.attached.get(os.fstat(cgroup_fd).st_ino, []))

    def bpf_prog_get_fd_by_id(self, prog_id: int) -> int:
        return self._fd(prog_id)

    def bpf_prog_attach_cgroup_device(self, cgroup_fd: int, prog_fd: int) -> None:
        self.attached.setdefault(os.fstat(cgroup_fd).st_ino, []).append(self.fds[prog_fd])

    def bpf_prog_detach_cgroup_device(self, cgroup_fd: int, prog_fd: int) -> None:
        self.attached[os.fstat(cgroup_fd).st_ino].remove(self.fds[prog_fd])

    def on(self, directory: Path) -> list[bytes]:
        return [self.programs[i] for i in self.attached.get(directory.stat().st_ino, [])]


@pytest.fixture(autouse=True)
def fake_bpf(monkeypatch: pytest.MonkeyPatch) -> FakeBPF:
    fake = FakeBPF()
    monkeypatch.setattr(ops, "Syscalls", lambda: fake)
    return fake


def execute(plan: Plan, pid: int = 4242) -> ParentContext:
    """Run the plan's parent-side cgroup phases like create does."""
    pctx = ParentContext("c1", "/bundle", "/run/limpet/c1", init_pid=pid)
    for phase in ("prepare", "init-created"):
        run_parent_ops(pctx, plan.ops(phase), plan.handlers)
    return pctx


def value_of(path: Path) -> str:
    return path.read_text()


# --- declaration ------------------------------------------------------------------------------

def test_declares_the_cgroup_paths_and_its_backends() -> None:
    info = plugin.limpet_declare()
    assert info.name == "cgroups"
    assert info.claims == ("linux.cgroupsPath", "linux.resources")
    assert info.features["linux"]["cgroup"] == {"v1": True, "v2": True, "systemd": False,
                                                "systemdUser": False, "rdma": True}
    backends = {(b.area, b.name): b for b in plugin.limpet_backends()}
    assert set(backends) == {("cgroups", "v1"), ("cgroups", "v2"), ("cgroups", "systemd")}
    assert backends[("cgroups", "systemd")].unavailable
    assert set(plugin.limpet_op_handlers()) == {"cgroup-create", "cgroup-write",
                                                 "cgroup-devices", "cgroup-attach",
                                                 "cgroup-remove"}


def test_options_reject_unknown_keys() -> None:
    from pydantic import ValidationError

    assert options.Options().parent is None   # default paths are /limpet-<id>
    with pytest.raises(ValidationError):
        options.Options.model_validate({"parnet": "/x"})
    with pytest.raises(ValidationError):
        options.Options.model_validate({"parent": "relative"})


# --- cgroupsPath ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("/libpod_parent/libpod-abc", "/libpod_parent/libpod-abc"),   # podman
    ("/default/abc", "/default/abc"),                             # ctr: /<namespace>/<id>
    ("/a//b/./c/", "/a/b/c"),
])
def test_absolute_cgroups_path_is_cleaned(value: str, expected: str) -> None:
    parsed = paths.parse(value, "abc")
    assert (parsed.path, parsed.relative, parsed.default) == (expected, False, False)


def test_absent_cgroups_path_defaults_to_limpet_slash_id() -> None:
    for value in (None, ""):
        parsed = paths.parse(value, "abc")
        assert (parsed.path, parsed.relative, parsed.default) == ("/limpet-abc", False, True)
    assert paths.parse(None, "abc", parent="/machines").path == "/machines/abc"


def test_relative_cgroups_path_stays_relative() -> None:
    parsed = paths.parse("sub/abc", "abc")
    assert (parsed.path, parsed.relative) == ("sub/abc", True)
    assert paths.under("/user.slice/me", parsed) == "/user.slice/me/sub/abc"
    assert paths.under("/", parsed) == "/sub/abc"


@pytest.mark.parametrize("value, words", [
    ("system.slice:docker:abc", "systemd cgroup driver is not available"),
    ("machine.slice:libpod:abc", "systemd cgroup driver is not available"),
    ("/a/../b", "must not contain '..'"),
    ("../escape", "must not contain '..'"),
    ("/", "root cgroup"),
    ("/./", "root cgroup"),
    (".", "own cgroup"),
    ("/a\nb", "newline"),
])
def test_bad_cgroups_paths_are_spec_errors(value: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        paths.parse(value, "abc")
    assert info.value.where == "linux.cgroupsPath"
    assert words in info.value.message


def test_host_dir_strips_the_mount_root_of_a_namespaced_mount() -> None:
    assert paths.host_dir("/sys/fs/cgroup/memory", "/", "/limpet/x") == \
        "/sys/fs/cgroup/memory/limpet/x"
    assert paths.host_dir("/sys/fs/cgroup/memory", "/kubepods/pod1", "/kubepods/pod1/x") == \
        "/sys/fs/cgroup/memory/x"
    assert paths.host_dir("/sys/fs/cgroup/memory", "/other", "/limpet/x") == \
        "/sys/fs/cgroup/memory/limpet/x"


def test_v1_dirs_for_absolute_path_are_under_every_hierarchy_root(fake_v1: FakeCgroupFS) -> None:
    dirs = fake_v1.driver().locate(paths.parse("/limpet-test/x", "x"))
    assert {d.hierarchy for d in dirs} == set(V1_FILES)
    for d in dirs:
        assert d.path == str(fake_v1.mounts[d.hierarchy] / "limpet-test/x")
        assert d.mount == str(fake_v1.mounts[d.hierarchy])
    assert next(d for d in dirs if d.hierarchy == "cpu,cpuacct").controllers == \
        ("cpu", "cpuacct")


def test_v1_relative_path_is_under_the_runtimes_own_cgroup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch, own="/runtime/me")
    lines = fake.proc_cgroup.read_text().replace("memory:/runtime/me", "memory:/mem/other")
    fake.proc_cgroup.write_text(lines)
    dirs = {d.hierarchy: d.path for d in fake.driver().locate(paths.parse("box/x", "x"))}
    assert dirs["pids"] == str(fake.mounts["pids"] / "runtime/me/box/x")
    assert dirs["memory"] == str(fake.mounts["memory"] / "mem/other/box/x")


def test_v2_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch, version="v2", own="/user.slice/sess")
    driver = fake.driver()
    [absolute] = driver.locate(paths.parse("/libpod_parent/libpod-x", "x"))
    assert absolute.path == str(fake.root / "libpod_parent/libpod-x")
    [relative] = driver.locate(paths.parse("box", "x"))
    assert relative.path == str(fake.root / "user.slice/sess/box")
    [default] = driver.locate(paths.parse(None, "x"))
    assert default.path == str(fake.root / "limpet-x")


def test_plan_uses_the_parent_option_for_the_default_path(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec(), options=options.Options(parent="/machines"))
    create = plan.ops("prepare")[0]
    assert create.args["cgroup"] == "/machines/c1"


# --- host detection ---------------------------------------------------------------------------

MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 /odd /mnt/with\\040space rw - cgroup cgroup rw,pids
"""


def test_read_mounts_parses_v1_v2_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "mi").write_text(MOUNTINFO_HYBRID)
    mounts = host.read_mounts(str(tmp_path / "mi"))
    assert [(m.mountpoint, m.fstype, m.key) for m in mounts] == [
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cpu,cpuacct"),
        ("/sys/fs/cgroup/memory", "cgroup", "memory"),
        ("/sys/fs/cgroup/systemd", "cgroup", "name=systemd"),
        ("/sys/fs/cgroup/unified", "cgroup2", ""),
        ("/mnt/with space", "cgroup", "pids"),
    ]
    assert mounts[-1].root == "/odd"


def test_read_own(tmp_path: Path) -> None:
    (tmp_path / "cg").write_text("4:memory:/a\n2:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n")
    assert host.read_own(str(tmp_path / "cg")) == {
        frozenset({"memory"}): "/a", frozenset({"cpu", "cpuacct"}): "/b",
        frozenset({"name=systemd"}): "/c", frozenset(): "/d"}


def test_detect_hybrid_is_v1_and_pure_unified_is_v2(tmp_path: Path) -> None:
    mi = tmp_path / "mi"
    mi.write_text(MOUNTINFO_HYBRID)
    assert host.detect(str(mi)) == "v1"
    mi.write_text("41 23 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    assert host.detect(str(mi)) == "v2"
    mi.write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    with pytest.raises(ExecutionError, match="no cgroup filesystem"):
        host.detect(str(mi))


def test_without_a_configured_backend_the_host_decides(monkeypatch: pytest.MonkeyPatch,
                                                       fake_v1: FakeCgroupFS) -> None:
    ctx = fake_v1.ctx()
    ctx.backends = {}
    driver = fake_v1.driver()
    monkeypatch.setattr(host, "detect", lambda: "v1")
    monkeypatch.setattr(V1, "from_host", classmethod(lambda cls: driver))
    assert plugin.driver_for(ctx) is driver


def test_configured_backend_wins(fake_v2: FakeCgroupFS) -> None:
    assert plugin.driver_for(fake_v2.ctx()).name == "v2"


# --- validation: fail closed ------------------------------------------------------------------

#: Every field of linux.resources, with a value that asks for something.
EVERY_FIELD = {
    "memory": {"limit": 1 << 26, "reservation": 1 << 25, "swap": 1 << 27, "kernel": 1 << 26,
               "kernelTCP": 1 << 24, "swappiness": 30, "disableOOMKiller": True,
               "useHierarchy": True, "checkBeforeUpdate": True},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
            "realtimeRuntime": 1000, "realtimePeriod": 100000, "cpus": "0", "mems": "0",
            "idle": 1},
    "pids": {"limit": 50},
    "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 22}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3}},
    "devices": [{"allow": False, "access": "rwm"}],
}


@pytest.fixture
def two_mb_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hugepages/hugepages-2048kB").mkdir(parents=True)
    (tmp_path / "hugepages/hugepages-1048576kB").mkdir()
    monkeypatch.setattr(hugetlb, "HUGEPAGES", str(tmp_path / "hugepages"))


def test_every_resource_field_is_applied_on_v1(fake_v1: FakeCgroupFS, two_mb_pages: None) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1", EVERY_FIELD))
    wheres = {op.where for op in plan.ops("prepare") if op.kind == "cgroup-write"}
    leaves = {f"linux.resources.{section}.{name}" if isinstance(value, dict) and
              section not in ("rdma",) else f"linux.resources.{section}"
              for section, value in EVERY_FIELD.items()
              for name in (value if isinstance(value, dict) else [None])}
    for leaf in sorted(leaves - {"linux.resources.memory.checkBeforeUpdate"}):
        assert any(w == leaf or w.startswith(leaf + "[") or w.startswith(leaf + ".")
                   or w.startswith(leaf + " ") for w in wheres), leaf
    pctx = execute(plan)
    leaf = fake_v1.leaf
    read = {name: value_of(leaf(key, "/limpet-test/c1") / name)
            for key, names in V1_FILES.items() for name in names}
    assert read["memory.kmem.tcp.limit_in_bytes"] == str(1 << 24)
    assert read["memory.swappiness"] == "30"
    assert read["memory.oom_control"] == "1"
    assert read["memory.use_hierarchy"] == "1"
    assert read["cpu.cfs_burst_us"] == "1000"
    assert read["cpu.rt_period_us"] == "100000" and read["cpu.rt_runtime_us"] == "1000"
    assert read["cpu.idle"] == "1"
    assert read["blkio.bfq.weight"] == "300"
    assert read["blkio.bfq.weight_device"] == "8:0 200"
    assert read["blkio.throttle.read_bps_device"] == "8:0 1048576"
    assert read["blkio.throttle.write_iops_device"] == "8:0 0"
    assert read["hugetlb.2MB.limit_in_bytes"] == str(1 << 22)
    assert read["net_cls.classid"] == "1048577"
    assert read["net_prio.ifpriomap"] == "eth0 5"
    assert read["rdma.max"] == "mlx5_1 hca_handle=3 hca_object=max"
    assert pctx.facts["cgroups"]["resources"]["memory"]["swappiness"] == 30


def test_v1_blkio_weight_falls_back_to_the_cfq_file(fake_v1: FakeCgroupFS) -> None:
    spec = make_spec("/limpet-test/c1", {"blockIO": {"weight": 500}})
    plan = make_plan(fake_v1, spec)
    [write] = [op for op in plan.ops("prepare") if op.where == "linux.resources.blockIO.weight"]
    assert write.args["alternatives"] == [["blkio.weight", "500"]]
    pctx = ParentContext("c1", "/bundle", "/run/limpet/c1", init_pid=1)
    run_parent_ops(pctx, plan.ops("prepare")[:1], plan.handlers)    # create only
    leaf = fake_v1.leaf("blkio", "/limpet-test/c1")
    (leaf / "blkio.bfq.weight").unlink()                           # a CFQ-only kernel
    (leaf / "blkio.weight").write_text("")
    run_parent_ops(pctx, [write], plan.handlers)
    assert value_of(leaf / "blkio.weight") == "500"
    os.unlink(leaf / "blkio.weight")                               # neither: error + hint
    with pytest.raises(ExecutionError) as info:
        run_parent_ops(pctx, [write], plan.handlers)
    assert info.value.where == "linux.resources.blockIO.weight"
    assert info.value.hint and "BFQ" in info.value.hint


def test_kernel_memory_limit_that_the_kernel_ignores_is_an_error(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1", {"memory": {"kernel": 1 << 26}}))
    pctx = ParentContext("c1", "/bundle", "/run/limpet/c1", init_pid=1)
    run_parent_ops(pctx, plan.ops("prepare")[:1], plan.handlers)
    [kmem] = [op for op in plan.ops("prepare") if op.where == "linux.resources.memory.kernel"]
    target = fake_v1.leaf("memory", "/limpet-test/c1") / "memory.kmem.limit_in_bytes"
    real = cgfs.write

    def ignoring(path: str, value: str, where: str | None, hint: str | None = None) -> None:
        real(path, "9223372036854771712" if path == str(target) else value, where, hint)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cgfs, "write", ignoring)
        with pytest.raises(ExecutionError) as info:
            run_parent_ops(pctx, [kmem], plan.handlers)
    assert info.value.where == "linux.resources.memory.kernel"
    assert "ignored it" in info.value.message
    assert info.value.hint == memory.KMEM_HINT


@pytest.mark.parametrize("resources, path, words", [
    ({"memory": {"kernel": 1000000}}, "linux.resources.memory.kernel", "no kernel memory"),
    ({"memory": {"kernelTCP": 1000000}}, "linux.resources.memory.kernelTCP", "no TCP"),
    ({"memory": {"swappiness": 0}}, "linux.resources.memory.swappiness", "no per-cgroup"),
    ({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller",
     "cannot disable"),
    ({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime", "realtime"),
    ({"cpu": {"realtimePeriod": 1000}}, "linux.resources.cpu.realtimePeriod", "realtime"),
    ({"blockIO": {"leafWeight": 100}}, "linux.resources.blockIO.leafWeight", "no leaf"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 100}]}},
     "linux.resources.blockIO.weightDevice[0].leafWeight", "no leaf"),
    ({"network": {"classID": 1}}, "linux.resources.network.classID", "no net_cls"),
    ({"network": {"priorities": [{"name": "eth0", "priority": 1}]}},
     "linux.resources.network.priorities", "no net_prio"),
    ({"unified": {"memory.high": "1G", "foo.bar": "1"}}, "linux.resources.unified['foo.bar']",
     "foo controller is not available"),
])
def test_v1_only_fields_are_errors_on_v2(fake_v2: FakeCgroupFS, resources: dict[str, Any],
                                         path: str, words: str) -> None:
    err = validate_error(fake_v2, resources)
    assert err.where == path
    assert words in err.message


def test_unified_is_an_error_on_v1(fake_v1: FakeCgroupFS) -> None:
    err = validate_error(fake_v1, {"unified": {"memory.high": "1G"}})
    assert err.where == "linux.resources.unified"
    assert "cgroup v1" in err.message


@pytest.mark.parametrize("resources, path", [
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, "linux.resources.hugepageLimits[0]"),
    ({"network": {"classID": 1}}, "linux.resources.network.classID"),
    ({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "linux.resources.rdma.mlx5_1"),
    ({"blockIO": {"weight": 500}}, "linux.resources.blockIO.weight"),
])
def test_v1_controller_missing_on_the_host_names_the_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_mb_pages: None,
        resources: dict[str, Any], path: str) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch)
    keep = ("rw,hugetlb", "rw,net_cls", "rw,rdma", "rw,blkio")
    lines = [ln for ln in fake.mountinfo.read_text().splitlines()
             if not any(ln.endswith(k) or k + "," in ln for k in keep)]
    fake.mountinfo.write_text("\n".join(lines) + "\n")
    err = validate_error(fake, resources)
    assert err.where == path
    assert "not mounted on this host" in err.message


def test_hugetlb_controller_of_a_hybrid_host_is_named_in_the_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_mb_pages: None) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch)
    lines = [ln for ln in fake.mountinfo.read_text().splitlines() if "rw,hugetlb" not in ln]
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("hugetlb\n")
    lines.append(f"99 23 0:99 / {unified} rw - cgroup2 cgroup2 rw")
    fake.mountinfo.write_text("\n".join(lines) + "\n")
    err = validate_error(fake, {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]})
    assert err.where == "linux.resources.hugepageLimits[0]"
    assert err.hint and "hybrid" in err.hint and str(unified) in err.hint
    # and the container gets its own directory in the cgroup2 tree, without limits
    dirs = fake.driver().locate(paths.parse("/limpet-test/c1", "c1"))
    assert dirs[-1] == CgroupDir("", str(unified / "limpet-test/c1"), str(unified))


@pytest.mark.parametrize("resources, path, words", [
    ({"hugepageLimits": [{"pageSize": "64KB", "limit": 1}]},
     "linux.resources.hugepageLimits[0].pageSize", "offers: 1GB, 2MB"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "2MB", "limit": 2}]},
     "linux.resources.hugepageLimits[1].pageSize", "twice"),
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness", "0-100"),
    ({"memory": {"kernel": -2}}, "linux.resources.memory.kernel", "not -1"),
    ({"cpu": {"idle": 2}}, "linux.resources.cpu.idle", "0 or 1"),
    ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight", "10-1000"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 2000}]}},
     "linux.resources.blockIO.weightDevice[0].weight", "10-1000"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": -3, "minor": 0, "rate": 1}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].major", "not a device number"),
    ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}},
     "linux.resources.network.priorities[0].name", "not an interface"),
    ({"unified": {"../etc": "1"}}, "linux.resources.unified['../etc']", "not a cgroup v2"),
    ({"unified": {"cgroup.procs": "1"}}, "linux.resources.unified['cgroup.procs']",
     "manages this file"),
    ({"devices": [{"allow": True, "type": "c", "access": "rwm"},
                  {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}]},
     "linux.resources.devices[1]", "cannot take access away"),
])
def test_more_bad_values_are_errors_naming_their_path(fake_v2: FakeCgroupFS,
                                                      two_mb_pages: None,
                                                      resources: dict[str, Any], path: str,
                                                      words: str) -> None:
    err = validate_error(fake_v2, resources)
    assert err.where == path
    assert words in err.message


def test_systemd_backend_is_declared_unavailable_with_the_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "SYSTEMD_PROBE", "/nonexistent/systemd")
    [systemd] = [b for b in plugin.limpet_backends() if b.name == "systemd"]
    assert systemd.unavailable and "no systemd cgroup driver" in systemd.unavailable
    assert "runs no systemd" in systemd.unavailable
    with pytest.raises(SpecError, match="unavailable"):
        systemd.factory()


@pytest.mark.parametrize("resources", [
    {"blockIO": {"weight": 0}},              # docker's default: runc reads 0 as "not set"
    {"blockIO": {}},
    {"hugepageLimits": []},
    {"unified": {}},
    {"memory": {"disableOOMKiller": False, "kernel": 0}},
    {"cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""}},
    {"pids": {"limit": 0}},
])
def test_values_that_ask_for_nothing_are_accepted(fake_v1: FakeCgroupFS,
                                                  resources: dict[str, Any]) -> None:
    plugin.limpet_validate(spec=make_spec(resources=resources), ctx=fake_v1.ctx())


@pytest.mark.parametrize("resources, path, words", [
    ({"devices": [{"allow": True, "type": "c", "major": 1, "minor": 3}]},
     "linux.resources.devices[0].access", "must not be empty"),
    ({"devices": [{"allow": True, "access": "rwx"}]},
     "linux.resources.devices[0].access", "combination of r, w and m"),
    ({"devices": [{"allow": True, "access": "rr"}]},
     "linux.resources.devices[0].access", "combination"),
    ({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "p",
                                                      "access": "r"}]},
     "linux.resources.devices[1].type", "not a, b or c"),
    ({"devices": [{"allow": True, "type": "c", "major": -5, "access": "r"}]},
     "linux.resources.devices[0].major", "not a device number"),
    ({"memory": {"limit": -2}}, "linux.resources.memory.limit", "not -1"),
    ({"memory": {"reservation": -7}}, "linux.resources.memory.reservation", "not -1"),
    ({"memory": {"limit": 200, "swap": 100}}, "linux.resources.memory.swap", "below"),
    ({"memory": {"swap": 100}}, "linux.resources.memory.swap", "needs a memory limit"),
    ({"memory": {"limit": -1, "swap": 100}}, "linux.resources.memory.swap", "needs a memory"),
    ({"cpu": {"shares": 1}}, "linux.resources.cpu.shares", "2-262144"),
    ({"cpu": {"shares": 300000}}, "linux.resources.cpu.shares", "2-262144"),
    ({"cpu": {"quota": -2}}, "linux.resources.cpu.quota", "not -1"),
    ({"cpu": {"cpus": "0-3;5"}}, "linux.resources.cpu.cpus", "not a list"),
    ({"cpu": {"mems": "all"}}, "linux.resources.cpu.mems", "not a list"),
])
def test_bad_values_are_errors_naming_their_path(fake_v1: FakeCgroupFS,
                                                 resources: dict[str, Any], path: str,
                                                 words: str) -> None:
    err = validate_error(fake_v1, resources)
    assert err.where == path
    assert words in err.message


def test_systemd_path_fails_validation(fake_v1: FakeCgroupFS) -> None:
    err = validate_error(fake_v1, cgroups_path="system.slice:limpet:abc")
    assert err.where == "linux.cgroupsPath"


def test_v1_swap_without_memsw_accounting_names_the_swap_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch, memsw=False)
    err = validate_error(fake, {"memory": {"limit": 100, "swap": 200}})
    assert err.where == "linux.resources.memory.swap"
    assert "memory.memsw.limit_in_bytes" in err.message
    assert err.hint and "swapaccount=1" in err.hint
    plugin.limpet_validate(spec=make_spec(resources={"memory": {"limit": 100}}),
                           ctx=fake.ctx())


def test_v1_controller_not_mounted_is_an_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch)
    lines = [ln for ln in fake.mountinfo.read_text().splitlines() if "rw,pids" not in ln]
    fake.mountinfo.write_text("\n".join(lines) + "\n")
    err = validate_error(fake, {"pids": {"limit": 10}})
    assert err.where == "linux.resources.pids.limit"
    assert "not mounted" in err.message


def test_v2_device_rules_become_a_bpf_filter_on_the_cgroup(fake_v2: FakeCgroupFS,
                                                           fake_bpf: FakeBPF) -> None:
    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]
    plan = make_plan(fake_v2, make_spec("/limpet-test/c1", {"devices": rules}))
    [op] = [op for op in plan.ops("prepare") if op.kind == "cgroup-devices"]
    assert op.where == "linux.resources.devices"
    assert op.args["rules"][:3] == ["deny a", "deny a", "allow c 10:229 rw"]
    assert op.args["rules"][3:] == [f"allow {line}" for line in devices.DEFAULT_ALLOW]
    execute(plan)
    [program] = fake_bpf.on(fake_v2.root / "limpet-test/c1")
    assert program == bpf_devices.encode(bpf_devices.program(bpf_devices.emulate(
        [bpf_devices.Rule.parse(r) for r in op.args["rules"]])))


def test_v2_without_rules_still_gets_the_default_filter(fake_v2: FakeCgroupFS) -> None:
    plan = make_plan(fake_v2, make_spec("/limpet-test/c1"))
    [op] = [op for op in plan.ops("prepare") if op.kind == "cgroup-devices"]
    assert op.args["rules"] == ["deny a"] + [f"allow {r}" for r in devices.DEFAULT_ALLOW]


def test_v2_controller_missing_in_a_hybrid_unified_tree_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupFS(tmp_path, monkeypatch, version="v2", v2_controllers="hugetlb")
    err = validate_error(fake, {"memory": {"limit": 1 << 26}})
    assert err.where == "linux.resources.memory.limit"
    assert "memory controller is not available" in err.message
    assert "hugetlb" in err.message


def test_rootless_without_cgroup_request_plans_nothing(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec(), rootless=True)
    assert plan.kinds() == set()
    plan = make_plan(fake_v1, make_spec("/mine/c1"), rootless=True)
    assert "cgroup-create" in plan.kinds()


@pytest.mark.parametrize("resources", [{}, {"memory": {}, "devices": []}])
def test_rootless_with_empty_resources_plans_nothing(fake_v1: FakeCgroupFS,
                                                     resources: dict[str, Any]) -> None:
    """Rootless podman on cgroup v1 sends "resources": {} and no cgroupsPath."""
    assert make_plan(fake_v1, make_spec(resources=resources), rootless=True).kinds() == set()
    limited = make_spec(resources={"pids": {"limit": 5}})
    assert "cgroup-create" in make_plan(fake_v1, limited, rootless=True).kinds()


# --- conversions --------------------------------------------------------------------------

@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (262144, 10000), (512, 20)])
def test_cpu_shares_to_weight_is_runcs_conversion(shares: int, weight: int) -> None:
    assert cpu.shares_to_weight(shares) == weight


@pytest.mark.parametrize("swap, limit, expected", [
    (200, 100, "100"), (100, 100, "0"), (-1, 100, "max"), (None, -1, "max"),
    (None, 100, None), (0, 100, None),
])
def test_memory_swap_v2_counts_swap_alone(swap: int | None, limit: int | None,
                                          expected: str | None) -> None:
    assert memory.swap_v2(swap, limit) == expected


def files(settings: list[Any]) -> list[tuple[str, str]]:
    return [(s.file, s.value) for s in settings]


def test_memory_v1_writes_limit_before_memsw() -> None:
    res = resources_of({"memory": {"limit": 100, "swap": 300, "reservation": 50}})
    assert files(memory.v1(res)) == [("memory.limit_in_bytes", "100"),
                                     ("memory.memsw.limit_in_bytes", "300"),
                                     ("memory.soft_limit_in_bytes", "50")]
    res = resources_of({"memory": {"limit": -1, "swap": -1}})
    assert files(memory.v1(res)) == [("memory.memsw.limit_in_bytes", "-1"),
                                     ("memory.limit_in_bytes", "-1")]


def test_memory_v2() -> None:
    res = resources_of({"memory": {"limit": 100, "swap": 300, "reservation": 50}})
    assert files(memory.v2(res)) == [("memory.max", "100"), ("memory.swap.max", "200"),
                                     ("memory.low", "50")]
    res = resources_of({"memory": {"limit": -1}})
    assert files(memory.v2(res)) == [("memory.max", "max"), ("memory.swap.max", "max")]


@pytest.mark.parametrize("limit, value", [(50, "50"), (-1, "max"), (0, "max")])
def test_pids_max(limit: int, value: str) -> None:
    res = resources_of({"pids": {"limit": limit}})
    assert files(pids.v1(res)) == files(pids.v2(res)) == [("pids.max", value)]


def test_cpu_v1_and_v2() -> None:
    res = resources_of({"cpu": {"shares": 1024, "quota": 50000, "period": 100000}})
    assert files(cpu.v1(res)) == [("cpu.shares", "1024"), ("cpu.cfs_period_us", "100000"),
                                  ("cpu.cfs_quota_us", "50000")]
    assert files(cpu.v2(res)) == [("cpu.weight", "39"), ("cpu.max", "50000 100000")]


@pytest.mark.parametrize("cpu_res, value", [
    ({"quota": 20000}, "20000"), ({"quota": -1, "period": 50000}, "max 50000"),
    ({"period": 50000}, "max 50000"),
])
def test_cpu_max_v2(cpu_res: dict[str, int], value: str) -> None:
    assert files(cpu.v2(resources_of({"cpu": cpu_res}))) == [("cpu.max", value)]


def test_device_rules_v1_deny_all_then_rules_in_order_then_defaults() -> None:
    res = resources_of({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "access": "r"},
        {"allow": False, "type": "c", "minor": 3, "access": "w"},
    ]})
    settings = devices.v1(res)
    assert files(settings)[:5] == [
        ("devices.deny", "a"), ("devices.deny", "a"), ("devices.allow", "c 10:229 rw"),
        ("devices.allow", "b 8:* r"), ("devices.deny", "c *:3 w")]
    assert [s.where for s in settings[1:5]] == [f"linux.resources.devices[{i}]"
                                               for i in range(4)]
    assert [s.value for s in settings[5:]] == list(devices.DEFAULT_ALLOW)
    assert {"c 1:3 rwm", "c 5:1 rwm", "c 136:* rwm", "c 10:200 rwm", "c *:* m",
            "b *:* m"} <= set(devices.DEFAULT_ALLOW)
    assert all(s.file == "devices.allow" for s in settings[5:])


def test_device_rules_v1_without_rules_still_deny_all_but_the_defaults() -> None:
    settings = devices.v1(resources_of({}))
    assert files(settings)[0] == ("devices.deny", "a")
    assert len(settings) == 1 + len(devices.DEFAULT_ALLOW)


# --- the plan ---------------------------------------------------------------------------------

FULL = {
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 50},
}


def test_v1_plan(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1", FULL))
    create, *writes, attach = plan.ops("prepare")
    assert create.kind == "cgroup-create" and create.where == "linux.cgroupsPath"
    assert create.plugin == "cgroups"
    assert create.args["driver"] == "v1"
    assert create.args["resources"] == FULL
    assert create.args["cgroup"] == "/limpet-test/c1"
    assert len(create.args["cgroups"]) == len(V1_FILES)
    assert all(op.kind == "cgroup-write" for op in writes)
    leaf = fake_v1.leaf
    by_where = {op.where: (op.args["file"], op.args["value"]) for op in writes}
    assert by_where["linux.resources.memory.limit"] == (
        str(leaf("memory", "/limpet-test/c1") / "memory.limit_in_bytes"), "67108864")
    assert by_where["linux.resources.memory.swap"][1] == "134217728"
    assert by_where["linux.resources.memory.reservation"][1] == "33554432"
    assert by_where["linux.resources.pids.limit"] == (
        str(leaf("pids", "/limpet-test/c1") / "pids.max"), "50")
    assert by_where["linux.resources.cpu.quota"] == (
        str(leaf("cpu,cpuacct", "/limpet-test/c1") / "cpu.cfs_quota_us"), "50000")
    assert by_where["linux.resources.cpu.cpus"] == (
        str(leaf("cpuset", "/limpet-test/c1") / "cpuset.cpus"), "0")
    assert by_where["linux.resources.devices[1]"] == (
        str(leaf("devices", "/limpet-test/c1") / "devices.deny"), "c 1:3 rw")
    # attached before the init gets its plan, so before it makes a cgroup namespace
    assert plan.ops("init-created") == []
    assert attach.kind == "cgroup-attach"
    assert attach.args["cgroups"] == [d["path"] for d in create.args["cgroups"]]
    json.dumps(plan.to_json())   # the plan is data


def test_v2_plan(fake_v2: FakeCgroupFS) -> None:
    res = {k: v for k, v in FULL.items() if k != "devices"}
    plan = make_plan(fake_v2, make_spec("/limpet-test/c1", res))
    create, *writes, device_filter, attach = plan.ops("prepare")
    assert create.args["driver"] == "v2"
    assert device_filter.kind == "cgroup-devices"
    leaf = fake_v2.root / "limpet-test/c1"
    assert device_filter.args["path"] == str(leaf)
    assert [(op.args["file"], op.args["value"]) for op in writes] == [
        (str(leaf / "memory.max"), "67108864"),
        (str(leaf / "memory.swap.max"), "67108864"),
        (str(leaf / "memory.low"), "33554432"),
        (str(leaf / "cpu.weight"), "20"),
        (str(leaf / "cpu.max"), "50000 100000"),
        (str(leaf / "cpuset.cpus"), "0"),
        (str(leaf / "cpuset.mems"), "0"),
        (str(leaf / "pids.max"), "50"),
    ]
    assert attach.args["cgroups"] == [str(leaf)]


# --- op handlers on the fake cgroupfs ---------------------------------------------------------

def test_v1_create_write_attach_and_remove(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1", FULL))
    pctx = execute(plan, pid=4242)
    leaf = fake_v1.leaf
    for key in V1_FILES:
        assert value_of(leaf(key, "/limpet-test/c1") / "cgroup.procs") == "4242"
    assert value_of(leaf("memory", "/limpet-test/c1") / "memory.limit_in_bytes") == "67108864"
    assert value_of(leaf("memory", "/limpet-test/c1") / "memory.memsw.limit_in_bytes") == \
        "134217728"
    assert value_of(leaf("pids", "/limpet-test/c1") / "pids.max") == "50"
    assert value_of(leaf("cpu,cpuacct", "/limpet-test/c1") / "cpu.cfs_period_us") == "100000"
    assert value_of(leaf("cpuset", "/limpet-test/c1") / "cpuset.cpus") == "0"
    # the new parent got the root's cpuset before the leaf could be filled
    assert value_of(leaf("cpuset", "/limpet-test") / "cpuset.cpus") == "0-3"
    assert value_of(leaf("cpuset", "/limpet-test") / "cpuset.mems") == "0"
    device_writes = [v for p, v in fake_v1.writes if "devices." in p]
    assert device_writes[:3] == ["a", "a", "c 1:3 rw"]
    assert device_writes[3:] == list(devices.DEFAULT_ALLOW)
    # teardown: recorded with every cgroup; removes what it made: the leaves and, when
    # nobody else uses it, the /limpet-test parent (in this fake, its files keep it)
    [teardown] = pctx.teardown
    assert teardown["kind"] == "cgroup-remove"
    assert sorted(teardown["args"]["cgroups"]) == sorted(
        str(leaf(k, "/limpet-test/c1")) for k in V1_FILES)
    assert sorted(teardown["args"]["remove"]) == sorted(
        [str(leaf(k, p)) for k in V1_FILES for p in ("/limpet-test", "/limpet-test/c1")])
    for key in V1_FILES:
        (leaf(key, "/limpet-test/c1") / "cgroup.procs").write_text("")
    assert run_teardown(pctx.teardown, plan.handlers, pctx) == []
    for key in V1_FILES:
        assert not leaf(key, "/limpet-test/c1").exists()


def test_existing_cgroup_is_joined_and_kept(fake_v1: FakeCgroupFS) -> None:
    existing = fake_v1.leaf("memory", "/shared/pod")
    existing.parent.mkdir()
    fake_v1.mkdir(str(existing))
    plan = make_plan(fake_v1, make_spec("/shared/pod", {"memory": {"limit": 1 << 26}}))
    pctx = execute(plan)
    [teardown] = pctx.teardown
    assert str(existing) in teardown["args"]["cgroups"]
    assert str(existing) not in teardown["args"]["remove"]
    for path in teardown["args"]["cgroups"]:
        Path(path, "cgroup.procs").write_text("")
    assert run_teardown(pctx.teardown, plan.handlers, pctx) == []
    assert existing.is_dir()
    assert not fake_v1.leaf("pids", "/shared/pod").exists()


def test_v2_create_enables_controllers_top_down(fake_v2: FakeCgroupFS) -> None:
    res = {"memory": {"limit": 1 << 26}, "pids": {"limit": 50}, "cpu": {"shares": 1024}}
    plan = make_plan(fake_v2, make_spec("/limpet-test/c1", res))
    pctx = execute(plan, pid=77)
    leaf = fake_v2.root / "limpet-test/c1"
    assert value_of(fake_v2.root / "cgroup.subtree_control") == \
        "+cpu +cpuset +io +memory +pids +hugetlb +rdma"
    assert value_of(fake_v2.root / "limpet-test/cgroup.subtree_control") == \
        "+cpu +cpuset +io +memory +pids +hugetlb +rdma"
    assert value_of(leaf / "memory.max") == str(1 << 26)
    assert value_of(leaf / "pids.max") == "50"
    assert value_of(leaf / "cpu.weight") == "39"
    assert value_of(leaf / "cgroup.procs") == "77"
    (leaf / "cgroup.procs").write_text("")
    assert run_teardown(pctx.teardown, plan.handlers, pctx) == []
    assert not leaf.exists()


def test_refused_write_names_the_config_path_and_the_file(fake_v1: FakeCgroupFS) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1", {"memory": {"limit": 1000}}))
    target = fake_v1.leaf("memory", "/limpet-test/c1") / "memory.limit_in_bytes"
    real = cgfs.os.write

    def busy(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") == str(target):
            raise OSError(errno.EBUSY, "busy")
        return real(fd, data)

    pctx = ParentContext("c1", "/bundle", "/run/limpet/c1", init_pid=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cgfs.os, "write", busy)
        with pytest.raises(ExecutionError) as info:
            run_parent_ops(pctx, plan.ops("prepare"), plan.handlers)
    assert str(info.value) == (f"linux.resources.memory.limit: writing 1000 to {target}: "
                               "Device or resource busy")
    assert info.value.errno == errno.EBUSY
    # the create's rollback still finds the teardown and removes the dirs
    assert run_teardown(pctx.teardown, plan.handlers, pctx) == []
    assert not target.parent.exists()


def test_missing_file_error_carries_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError) as info:
        cgfs.write(str(tmp_path / "memory.memsw.limit_in_bytes"), "5",
                   "linux.resources.memory.swap", memory.MEMSW_HINT)
    assert info.value.where == "linux.resources.memory.swap"
    assert "No such file or directory" in info.value.message
    assert info.value.hint == memory.MEMSW_HINT
    assert not (tmp_path / "memory.memsw.limit_in_bytes").exists()  # never created


def test_failed_mkdir_still_registers_what_was_created(fake_v1: FakeCgroupFS,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plan = make_plan(fake_v1, make_spec("/limpet-test/c1"))
    fake_mkdir = cgfs.mkdir
    denied = str(fake_v1.leaf("memory", "/limpet-test/c1"))

    def mkdir(path: str) -> bool:
        if path == denied:
            raise OSError(errno.EACCES, "denied", path)
        return fake_mkdir(path)

    monkeypatch.setattr(cgfs, "mkdir", mkdir)
    pctx = ParentContext("c1", "/bundle", "/run/limpet/c1", init_pid=1)
    with pytest.raises(ExecutionError) as info:
        run_parent_ops(pctx, plan.ops("prepare"), plan.handlers)
    assert info.value.where == "linux.cgroupsPath"
    assert f"creating cgroup {denied}: Permission denied" in info.value.message
    [teardown] = pctx.teardown
    assert teardown["args"]["remove"]                  # those made before the failure
    assert denied not in teardown["args"]["remove"]
    assert run_teardown(pctx.teardown, plan.handlers, pctx) == []
    made = teardown["args"]["remove"]
    for path in made:
        if not any(other.startswith(path + "/") for other in made):   # leaves
            assert not os.path.exists(path)


def test_remove_retries_while_busy_then_gives_up(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cg"
    target.mkdir()
    attempts: list[str] = []

    def busy_twice(path: str) -> None:
        attempts.append(path)
        if len(attempts) <= 2:
            raise OSError(errno.EBUSY, "busy", path)
        os.rmdir(path)

    monkeypatch.setattr(cgfs, "rmdir", busy_twice)
    cgfs.remove(str(target))
    assert len(attempts) == 3 and not target.exists()

    target.mkdir()
    monkeypatch.setattr(cgfs, "rmdir", lambda path: (_ for _ in ()).throw(
        OSError(errno.EBUSY, "busy", path)))
    with pytest.raises(ExecutionError, match="Device or resource busy"):
        cgfs.remove(str(target), timeout=0.05)
    cgfs.remove(str(tmp_path / "gone"))   # already gone: fine


def test_remove_takes_child_cgroups_first(tmp_path: Path) -> None:
    (tmp_path / "cg/child/grandchild").mkdir(parents=True)
    cgfs.remove(str(tmp_path / "cg"))
    assert not (tmp_path / "cg").exists()


def test_cgroup_pids_from_paths_and_from_a_state_dir(tmp_path: Path) -> None:
    a, b = tmp_path / "memory/x", tmp_path / "pids/x"
    (a / "sub").mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "cgroup.procs").write_text("10\n12\n")
    (a / "sub/cgroup.procs").write_text("30\n")
    (b / "cgroup.procs").write_text("12\n10\n")
    assert ops.cgroup_pids([str(a), str(b)]) == [10, 12, 30]
    state = {"teardown": [{"kind": "other", "args": {}},
                          {"kind": "cgroup-remove",
                           "args": {"cgroups": [str(a), str(b)], "remove": []}}]}
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert ops.cgroup_pids(str(tmp_path)) == [10, 12, 30]
    assert ops.cgroup_pids([str(tmp_path / "missing")]) == []


def test_handler_modules_are_lean() -> None:
    import subprocess
    import sys

    # the handlers, and what state/pause/kill/ps/events use after create
    code = ("import sys, limpet.plugins.cgroups.ops, limpet.plugins.cgroups.control, "
            "limpet.plugins.cgroups.stats, limpet.plugins.cgroups.events; "
            "print([m for m in ('pydantic', 'pluggy', 'rich', 'ruamel') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
