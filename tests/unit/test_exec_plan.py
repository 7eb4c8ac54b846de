"""``exec`` planning: the process built from the command line (runc's getProcess) and the
plan the built-in plugins' ``limpet_plan_exec`` hooks make. No root: plans are data."""

from __future__ import annotations

import os
from typing import Any

import pytest
from limpet.core.errors import SpecError, UsageError
from limpet.core.exec import ExecRequest, build_process, compile_exec
from limpet.core.plan import Plan

from tests.unit.conftest import UnitBundle, make_plugin

BASE = {"args": ["sleep", "1"], "cwd": "/", "env": ["PATH=/bin"], "terminal": True,
        "consoleSize": {"height": 1, "width": 2},
        "user": {"uid": 0, "gid": 0, "additionalGids": [7]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"]}}


def request(**kwargs: Any) -> ExecRequest:
    kwargs.setdefault("args", ["/bin/echo", "hi"])
    return ExecRequest("c1", "/nonexistent-root", **kwargs)


def test_the_command_line_overrides_the_containers_process() -> None:
    process = build_process(request(env=["A=1"], cwd="/tmp", user="1000:100",
                                    additional_gids=["5"], caps=["CAP_CHOWN"],
                                    no_new_privs=True, apparmor="prof"), BASE)
    assert process["args"] == ["/bin/echo", "hi"]
    assert process["terminal"] is False and "consoleSize" not in process
    assert process["env"] == ["PATH=/bin", "A=1"]
    assert process["cwd"] == "/tmp"
    assert process["user"] == {"uid": 1000, "gid": 100, "additionalGids": [7, 5]}
    assert process["capabilities"]["effective"] == ["CAP_KILL", "CAP_CHOWN"]
    assert process["capabilities"]["bounding"] == ["CAP_KILL", "CAP_CHOWN"]
    assert process["noNewPrivileges"] is True and process["apparmorProfile"] == "prof"
    assert BASE["env"] == ["PATH=/bin"]   # the container's process is not changed


def test_bad_command_lines_name_the_flag() -> None:
    with pytest.raises(UsageError) as info:
        build_process(request(user="root"), BASE)
    assert info.value.where == "--user"
    with pytest.raises(UsageError) as info:
        build_process(request(args=[]), BASE)
    assert info.value.where == "ARGS"


def _state(unit_bundle: UnitBundle, **facts: Any) -> dict[str, Any]:
    return {"bundle": str(unit_bundle.path), "pid": os.getpid(), "facts": facts,
            "runtimeConfig": str(unit_bundle.config_file)}


def _plan(unit_bundle: UnitBundle, req: ExecRequest | None = None, **facts: Any) -> Plan:
    unit_bundle.write()
    plan: Plan = compile_exec(req or request(), _state(unit_bundle, **facts))
    return plan


def _kinds(plan: Plan) -> dict[str, list[str]]:
    return {phase: [op.kind for op in ops] for phase, ops in plan.phases.items() if ops}


def test_exec_joins_the_containers_namespaces_and_cgroups(unit_bundle: UnitBundle) -> None:
    unit_bundle.config["linux"]["namespaces"] = [{"type": t} for t in
                                                 ("pid", "mount", "network", "uts")]
    plan = _plan(unit_bundle, procsFiles=["/sys/fs/cgroup/pids/c1/cgroup.procs"])
    kinds = _kinds(plan)
    attach = plan.ops("join-cgroups")[0]
    assert attach.kind == "cgroup-attach"
    assert attach.args["cgroups"] == ["/sys/fs/cgroup/pids/c1"]
    # the test process plays the container's init: the runtime is in its namespaces
    # already, so none is joined again (the next test sees them joined)
    assert plan.ops("namespaces") == [] and plan.ops("user-namespace") == []
    assert "rootfs" not in kinds and "mounts" not in kinds and "devices" not in kinds
    assert "set-credentials" in kinds["credentials"]
    assert plan.process["args"] == ["/bin/echo", "hi"]


def test_exec_join_order_puts_the_user_namespace_first(unit_bundle: UnitBundle,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    from limpet.plugins.namespaces import plugin as ns_plugin

    monkeypatch.setattr(ns_plugin, "_same_namespace", lambda path, ns_file: False)
    unit_bundle.config["linux"]["namespaces"] = [{"type": t} for t in
                                                 ("mount", "pid", "user", "ipc")]
    unit_bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000,
                                                   "size": 10}]
    unit_bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000,
                                                   "size": 10}]
    plan = _plan(unit_bundle)
    pid = os.getpid()
    user = plan.ops("user-namespace")[0].args["join"]
    others = plan.ops("namespaces")[0].args["join"]
    assert [j["path"] for j in user] == [f"/proc/{pid}/ns/user"]
    assert [j["type"] for j in others] == ["ipc", "pid", "mount"]
    assert "write-id-maps" not in _kinds(plan).get("id-maps", [])


def test_exec_seccomp_follows_the_process_no_new_privileges(unit_bundle: UnitBundle) -> None:
    unit_bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                              "syscalls": [{"names": ["mkdir"],
                                                            "action": "SCMP_ACT_ERRNO"}]}
    unit_bundle.config["process"]["noNewPrivileges"] = False
    without = _plan(unit_bundle)
    assert "seccomp-load" in _kinds(without)["seccomp-privileged"]
    with_nnp = _plan(unit_bundle, request(no_new_privs=True))
    assert "seccomp-load" in _kinds(with_nnp)["seccomp"]


def test_exec_affinity_pins_before_and_after_the_cgroup_move(unit_bundle: UnitBundle,
                                                             tmp_path: Any) -> None:
    path = tmp_path / "process.json"
    path.write_text('{"args": ["/bin/true"], "cwd": "/", '
                    '"execCPUAffinity": {"initial": "0-1", "final": "1"}}')
    plan = _plan(unit_bundle, request(process_file=str(path), args=[]))
    initial = [op for op in plan.ops("prepare") if op.kind == "exec-affinity-initial"]
    final = [op for op in plan.ops("process") if op.kind == "exec-affinity-final"]
    assert initial[0].args["cpus"] == [0, 1] and final[0].args["cpus"] == [1]


def test_bad_exec_process_fields_are_spec_errors(unit_bundle: UnitBundle,
                                                 tmp_path: Any) -> None:
    path = tmp_path / "process.json"
    path.write_text('{"args": ["/bin/true"], "cwd": "/", "user": {"uid": "0", "gid": 0}}')
    with pytest.raises(SpecError) as info:
        _plan(unit_bundle, request(process_file=str(path), args=[]))
    assert info.value.where == "process.user.uid"
    with pytest.raises(SpecError) as info:
        _plan(unit_bundle, request(tty=True, detach=True))
    assert info.value.where == "process.terminal"


def test_a_third_party_plugin_plans_exec_too(unit_bundle: UnitBundle, plugin_set: Any) -> None:
    seen: list[Any] = []

    def limpet_plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
        seen.append((spec.process.args, ctx.pid, ctx.facts))
        plan.add("process", "vendor-op", "process")

    plugin_set.add("vendor", make_plugin("vendor", handlers={"vendor-op": "x:y"},
                                         limpet_plan_exec=limpet_plan_exec))
    plan = _plan(unit_bundle, marker=1)
    assert seen == [(["/bin/echo", "hi"], os.getpid(), {"marker": 1})]
    assert "vendor-op" in _kinds(plan)["process"]


def test_exec_joins_the_session_keyring_create_made(unit_bundle: UnitBundle) -> None:
    joined = [op.args for op in _plan(unit_bundle, sessionKeyring="_ses.c1").ops("process")
              if op.kind == "join-session-keyring"]
    assert joined == [{"name": "_ses.c1", "search": 0}]    # its permissions were set by create
    none = [op for op in _plan(unit_bundle).ops("process") if op.kind == "join-session-keyring"]
    assert none == []                                      # create --no-new-keyring
