"""The process plugin's security attributes without root: oomScoreAdj, scheduler,
ioPriority, personality, memoryPolicy, execCPUAffinity, every RLIMIT_* name, and the order of
the init's last steps. Plans through compile_bundle; handlers against RecordingSyscalls and
fake /proc files under tmp_path."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import ExecutionError, SpecError
from limpet.core.syscalls import RecordingSyscalls, const
from limpet.plugins.process import mempolicy, oom, personality, scheduler
from limpet.plugins.process import ops as process_ops
from limpet.plugins.process.affinity import parse_list


class FakeCtx:
    def __init__(self) -> None:
        self.sys = RecordingSyscalls()


class FailingSyscalls(RecordingSyscalls):
    """Every call fails with ``err``."""

    def __init__(self, err: int) -> None:
        super().__init__()
        self.err = err

    def __getattribute__(self, name: str) -> Any:
        if name in ("sched_setattr", "ioprio_set", "set_mempolicy", "personality"):
            err = object.__getattribute__(self, "err")

            def fail(*args: Any) -> None:
                raise OSError(err, errno.errorcode[err])

            return fail
        return super().__getattribute__(name)


def spec_error(bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        bundle.compile()
    return info.value


def kinds(plan: Any, phase: str) -> list[str]:
    return [op.kind for op in plan.ops(phase)]


def only(plan: Any, phase: str, kind: str) -> Any:
    [op] = [op for op in plan.ops(phase) if op.kind == kind]
    return op


# --- the order of the init's last steps -----------------------------------------------------

def test_privileged_steps_come_before_credentials_and_personality_last(
        unit_bundle: Any) -> None:
    process = unit_bundle.config["process"]
    process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    process["noNewPrivileges"] = True
    unit_bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    plan = unit_bundle.plan()
    assert kinds(plan, "credentials") == ["set-scheduler", "set-io-priority",
                                          "set-credentials", "no-new-privileges",
                                          "set-personality"]


def test_every_new_op_names_its_config_path(unit_bundle: Any) -> None:
    process = unit_bundle.config["process"]
    process["oomScoreAdj"] = 100
    process["scheduler"] = {"policy": "SCHED_IDLE"}
    process["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 7}
    unit_bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    unit_bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_LOCAL"}
    plan = unit_bundle.plan()
    assert only(plan, "prepare", "set-oom-score-adj").where == "process.oomScoreAdj"
    assert only(plan, "credentials", "set-scheduler").where == "process.scheduler"
    assert only(plan, "credentials", "set-io-priority").where == "process.ioPriority"
    assert only(plan, "credentials", "set-personality").where == "linux.personality"
    assert only(plan, "process", "set-memory-policy").where == "linux.memoryPolicy"


def test_capset_failure_names_process_capabilities() -> None:
    class CapsetFails(RecordingSyscalls):
        def __getattribute__(self, name: str) -> Any:
            if name == "capset":
                def fail(*args: Any) -> None:
                    raise OSError(errno.EPERM, "capset")
                return fail
            return super().__getattribute__(name)

    ctx = FakeCtx()
    ctx.sys = CapsetFails()
    with pytest.raises(ExecutionError) as info:
        process_ops.set_credentials(ctx, {"uid": 0, "gid": 0, "cwd": "/", "capabilities": {
            "bounding": [], "effective": ["CAP_KILL"], "permitted": [], "inheritable": [],
            "ambient": []}})
    assert info.value.where == "process.capabilities"


# --- oomScoreAdj ----------------------------------------------------------------------------

def test_oom_score_adj_is_set_by_the_runtime_before_any_namespace(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["oomScoreAdj"] = -500
    op = only(unit_bundle.plan(), "prepare", "set-oom-score-adj")
    assert op.args == {"value": -500}


def test_absent_oom_score_adj_is_left_alone(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    assert all(op.kind != "set-oom-score-adj" for ops in plan.phases.values() for op in ops)


@pytest.mark.parametrize("value", [-1001, 1001])
def test_oom_score_adj_out_of_range_is_refused(unit_bundle: Any, value: int) -> None:
    unit_bundle.config["process"]["oomScoreAdj"] = value
    err = spec_error(unit_bundle)
    assert err.where == "process.oomScoreAdj"
    assert "out of range (-1000 to 1000)" in err.message


class ParentCtx:
    init_pid = 4242


def _fake_proc(tmp_path: Path, own: int) -> Path:
    (tmp_path / "4242").mkdir()
    (tmp_path / "self").mkdir()
    (tmp_path / "4242" / "oom_score_adj").write_text(f"{own}\n")
    (tmp_path / "self" / "oom_score_adj").write_text(f"{own}\n")
    return tmp_path


def test_set_oom_score_adj_writes_the_inits_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oom, "PROC", str(_fake_proc(tmp_path, 0)))
    oom.set_oom_score_adj(ParentCtx(), {"value": 300})
    assert (tmp_path / "4242" / "oom_score_adj").read_text() == "300"


def test_refused_lower_oom_score_adj_names_the_runtimes_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oom, "PROC", str(_fake_proc(tmp_path, 0)))
    (tmp_path / "4242" / "oom_score_adj").chmod(0o444)
    real_open = open

    def refusing_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("4242/oom_score_adj") and "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(ExecutionError) as info:
        oom.set_oom_score_adj(ParentCtx(), {"value": -998})
    assert str(info.value) == ("process.oomScoreAdj: cannot set -998 (lower than the "
                               "runtime's own 0): CAP_SYS_RESOURCE is not available")


# --- scheduler ------------------------------------------------------------------------------

def test_scheduler_op_carries_every_field_with_zero_defaults(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["scheduler"] = {
        "policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK"],
        "runtime": 10_000_000, "deadline": 20_000_000, "period": 30_000_000}
    op = only(unit_bundle.plan(), "credentials", "set-scheduler")
    assert op.args == {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                       "nice": 0, "priority": 0, "runtime": 10_000_000,
                       "deadline": 20_000_000, "period": 30_000_000}


@pytest.mark.parametrize(("scheduler", "where", "words"), [
    ({"policy": "SCHED_ISO"}, "process.scheduler.policy", "not implemented"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice", "-20 to 19"),
    ({"policy": "SCHED_OTHER", "nice": -21}, "process.scheduler.nice", "-20 to 19"),
    ({"policy": "SCHED_FIFO"}, "process.scheduler.priority", "from 1 to 99"),
    ({"policy": "SCHED_RR", "priority": 100}, "process.scheduler.priority", "from 1 to 99"),
    ({"policy": "SCHED_BATCH", "priority": 5}, "process.scheduler.priority",
     "SCHED_FIFO and SCHED_RR only"),
    ({"policy": "SCHED_OTHER", "runtime": 5}, "process.scheduler.runtime",
     "SCHED_DEADLINE only"),
    ({"policy": "SCHED_DEADLINE", "runtime": 100, "deadline": 200},
     "process.scheduler.runtime", "at least 1024 ns"),
    ({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 1500},
     "process.scheduler.deadline", "less than the runtime"),
    ({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 3000, "period": 2500},
     "process.scheduler.period", "less than the deadline"),
])
def test_bad_scheduler_settings_name_their_field(unit_bundle: Any, scheduler: dict[str, Any],
                                                 where: str, words: str) -> None:
    unit_bundle.config["process"]["scheduler"] = scheduler
    err = spec_error(unit_bundle)
    assert err.where == where
    assert words in err.message


def test_set_scheduler_calls_sched_setattr_with_the_kernels_numbers() -> None:
    ctx = FakeCtx()
    scheduler.set_scheduler(ctx, {"policy": "SCHED_FIFO", "priority": 10, "nice": 0,
                                  "flags": ["SCHED_FLAG_RESET_ON_FORK",
                                            "SCHED_FLAG_KEEP_PARAMS"],
                                  "runtime": 0, "deadline": 0, "period": 0})
    assert ctx.sys.calls == [("sched_setattr", (1, 0x01 | 0x10, 0, 10, 0, 0, 0))]
    assert [const(p) for p in ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
                               "SCHED_IDLE", "SCHED_DEADLINE")] == [0, 1, 2, 3, 5, 6]


def test_refused_real_time_policy_is_a_clear_error() -> None:
    ctx = FakeCtx()
    ctx.sys = FailingSyscalls(errno.EPERM)
    with pytest.raises(ExecutionError) as info:
        scheduler.set_scheduler(ctx, {"policy": "SCHED_RR", "priority": 5})
    assert str(info.value) == ("process.scheduler: sched_setattr SCHED_RR priority 5: "
                               "Operation not permitted")
    assert info.value.hint and "CAP_SYS_NICE" in info.value.hint
    assert "cpu.rt_runtime_us" in info.value.hint


# --- ioPriority -----------------------------------------------------------------------------

def test_io_priority_op_and_handler(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_RT", "priority": 2}
    op = only(unit_bundle.plan(), "credentials", "set-io-priority")
    assert op.args == {"class": "IOPRIO_CLASS_RT", "priority": 2}
    ctx = FakeCtx()
    scheduler.set_io_priority(ctx, op.args)
    # IOPRIO_WHO_PROCESS (1) of the calling process (0): class << 13 | priority
    assert ctx.sys.calls == [("ioprio_set", (1, 0, 1 << 13 | 2))]


@pytest.mark.parametrize("priority", [-1, 8])
def test_io_priority_out_of_range_is_refused(unit_bundle: Any, priority: int) -> None:
    unit_bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE",
                                                   "priority": priority}
    assert spec_error(unit_bundle).where == "process.ioPriority.priority"


def test_refused_io_priority_names_the_field() -> None:
    ctx = FakeCtx()
    ctx.sys = FailingSyscalls(errno.EPERM)
    with pytest.raises(ExecutionError) as info:
        scheduler.set_io_priority(ctx, {"class": "IOPRIO_CLASS_RT", "priority": 0})
    assert info.value.where == "process.ioPriority"
    assert info.value.hint == "IOPRIO_CLASS_RT needs CAP_SYS_ADMIN or CAP_SYS_NICE"


# --- personality ----------------------------------------------------------------------------

def test_personality_sets_the_domain() -> None:
    ctx = FakeCtx()
    personality.set_personality(ctx, {"domain": "LINUX32"})
    personality.set_personality(ctx, {"domain": "LINUX"})
    assert ctx.sys.calls == [("personality", (0x0008,)), ("personality", (0x0000,))]


def test_personality_without_domain_or_with_flags_is_refused(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["personality"] = {"flags": []}
    assert spec_error(unit_bundle).where == "linux.personality.domain"
    unit_bundle.config["linux"]["personality"] = {"domain": "LINUX", "flags": ["SHORT_INODE"]}
    err = spec_error(unit_bundle)
    assert err.where == "linux.personality.flags[0]"
    assert "supports none yet" in err.message


# --- memoryPolicy ---------------------------------------------------------------------------

def test_memory_policy_op_has_the_node_list(unit_bundle: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    online = tmp_path / "online"
    online.write_text("0-3\n")
    monkeypatch.setattr(mempolicy, "ONLINE", str(online))
    unit_bundle.config["linux"]["memoryPolicy"] = {
        "mode": "MPOL_INTERLEAVE", "nodes": "0-1, 3", "flags": ["MPOL_F_STATIC_NODES"]}
    op = only(unit_bundle.plan(), "process", "set-memory-policy")
    assert op.args == {"mode": "MPOL_INTERLEAVE", "nodes": [0, 1, 3],
                       "flags": ["MPOL_F_STATIC_NODES"]}
    ctx = FakeCtx()
    mempolicy.set_memory_policy(ctx, op.args)
    assert ctx.sys.calls == [("set_mempolicy", (3 | 1 << 15, [0, 1, 3]))]


@pytest.mark.parametrize(("policy", "where", "words"), [
    ({"nodes": "0"}, "linux.memoryPolicy.mode", "required"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes", "needs at least one node"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes", "goes backwards"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES",
                                                    "MPOL_F_RELATIVE_NODES"]},
     "linux.memoryPolicy.flags", "exclude each other"),
    ({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_RELATIVE_NODES"]},
     "linux.memoryPolicy.flags", "needs nodes"),
    ({"mode": "MPOL_BIND", "nodes": "4096"}, "linux.memoryPolicy.nodes", "beyond"),
])
def test_bad_memory_policy_names_its_field(unit_bundle: Any, policy: dict[str, Any],
                                           where: str, words: str) -> None:
    unit_bundle.config["linux"]["memoryPolicy"] = policy
    err = spec_error(unit_bundle)
    assert err.where == where
    assert words in err.message


def test_memory_policy_on_nodes_that_are_all_offline_is_refused(tmp_path: Path) -> None:
    online = tmp_path / "online"
    online.write_text("0\n")

    class Spec:
        class linux:  # noqa: N801
            class memory_policy:  # noqa: N801
                mode, nodes, flags = "MPOL_BIND", "2-3", None

    with pytest.raises(SpecError) as info:
        mempolicy.validate(Spec, str(online))
    assert info.value.where == "linux.memoryPolicy.nodes"
    assert "none of the nodes '2-3' is online on this host (online: 0)" in info.value.message


# --- execCPUAffinity ------------------------------------------------------------------------

def test_exec_cpu_affinity_is_kept_for_exec_and_not_applied_to_the_init(
        unit_bundle: Any) -> None:
    unit_bundle.config["process"]["execCPUAffinity"] = {"initial": "0-3, 7", "final": ""}
    plan = unit_bundle.plan()
    assert plan.process["execCPUAffinity"] == {"initial": [0, 1, 2, 3, 7], "final": None}
    assert plan.to_json()["process"]["execCPUAffinity"]["initial"] == [0, 1, 2, 3, 7]
    assert not any("affinity" in op.kind for ops in plan.phases.values() for op in ops)


@pytest.mark.parametrize(("text", "words"), [
    ("3-1", "goes backwards"), ("0,,1", "empty item"), ("1 2", "not a CPU number"),
    ("9000", "beyond the largest"), ("1-", "not a CPU number")])
def test_bad_exec_cpu_affinity_names_initial_or_final(unit_bundle: Any, text: str,
                                                      words: str) -> None:
    unit_bundle.config["process"]["execCPUAffinity"] = {"final": text}
    err = spec_error(unit_bundle)
    assert err.where == "process.execCPUAffinity.final"
    assert words in err.message


def test_parse_list_accepts_the_cpuset_list_format() -> None:
    assert parse_list("", "w") == []
    assert parse_list("0-3,7", "w") == [0, 1, 2, 3, 7]
    assert parse_list(" 5 , 1-2 ,2", "w") == [1, 2, 5]


# --- rlimits --------------------------------------------------------------------------------

def test_every_rlimit_of_getrlimit_2_is_accepted(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["rlimits"] = [
        {"type": name, "soft": 1, "hard": 2} for name in process_ops.RLIMITS]
    op = only(unit_bundle.plan(), "process", "set-rlimits")
    assert [r["type"] for r in op.args["rlimits"]] == list(process_ops.RLIMITS)
    assert len(process_ops.RLIMITS) == 16
    assert const("RLIMIT_LOCKS") == 10 and const("RLIMIT_RTTIME") == 15


@pytest.mark.parametrize("name", ["RLIMIT_OFILE", "RLIMIT_NOPE"])
def test_rlimit_linux_does_not_define_is_refused(unit_bundle: Any, name: str) -> None:
    unit_bundle.config["process"]["rlimits"] = [{"type": name, "soft": 1, "hard": 1}]
    err = spec_error(unit_bundle)
    assert err.where == "process.rlimits[0].type"
    assert f"unknown rlimit {name!r}" in err.message


# --- the plugin's parts are imported only for the fields they read ---------------------

def _without(config: dict[str, Any], name: str) -> dict[str, Any]:
    from limpet.plugins.process.plugin import PARTS

    aliases = {"oom_score_adj": "oomScoreAdj", "io_priority": "ioPriority",
               "exec_cpu_affinity": "execCPUAffinity", "apparmor_profile": "apparmorProfile",
               "selinux_label": "selinuxLabel", "mount_label": "mountLabel",
               "memory_policy": "memoryPolicy"}
    for section, attr in PARTS[name]:
        config.get(section, {}).pop(aliases.get(attr, attr), None)
    return config


EVERY_PART = {
    "process": {"args": ["/bin/true"], "cwd": "/", "oomScoreAdj": 100,
                "scheduler": {"policy": "SCHED_OTHER"},
                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                "execCPUAffinity": {"initial": "0", "final": "0"}},
    "linux": {"sysctl": {"kernel.domainname": "x"}, "personality": {"domain": "LINUX"},
              "memoryPolicy": {"mode": "MPOL_DEFAULT"}},
}


@pytest.mark.parametrize("name", ["oom", "scheduler", "affinity", "lsm", "sysctl",
                                  "personality", "mempolicy"])
def test_a_part_whose_fields_are_absent_is_not_needed(name: str) -> None:
    """What lets the plugin skip (and not import) a part: with its fields absent and every
    other part's set, the part checks and plans nothing."""
    import copy
    import importlib

    from limpet.core.plan import Plan
    from limpet.core.spec import load_config
    from limpet.plugins.process.plugin import part

    spec = load_config({"ociVersion": "1.3.0",
                        **_without(copy.deepcopy(EVERY_PART), name)})
    assert part(spec, name) is None
    module: Any = importlib.import_module(f"limpet.plugins.process.{name}")
    plan = Plan()
    for function in ("validate", "validate_scheduler", "validate_io_priority"):
        if hasattr(module, function):
            getattr(module, function)(spec)
    for function in ("plan", "plan_exec"):
        if hasattr(module, function):
            getattr(module, function)(spec, plan)
    assert plan.kinds() == set()
