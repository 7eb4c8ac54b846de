"""Plans of the built-in plugins (limpet_validate + limpet_plan through compile_bundle), and
their op handlers run against the recording syscall fake. No root, no container: the plan is
data, and handlers only talk to ``ctx.sys``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import SpecError
from limpet.core.plan import PHASES, Plan, phases_from_json
from limpet.core.syscalls import RecordingSyscalls, const
from limpet.plugins.devices.plugin import DEFAULT_DEVICES, LINKS
from limpet.plugins.mounts import ops as mount_ops
from limpet.plugins.namespaces import ops as ns_ops
from limpet.plugins.process import ops as process_ops

CONTAINER_PHASES = [name for name, side in PHASES if side == "container"]


def kinds(plan: Plan, phase: str) -> list[str]:
    return [op.kind for op in plan.ops(phase)]


def only(plan: Plan, phase: str, kind: str) -> Any:
    found = [op for op in plan.ops(phase) if op.kind == kind]
    assert len(found) == 1, f"{kind} in {phase}: {found}"
    return found[0]


def spec_error(bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        bundle.compile()
    return info.value


class FakeCtx:
    """What handlers get in the init: the syscall seam plus a few facts."""

    def __init__(self, rootfs: str = "/nonexistent/rootfs") -> None:
        self.sys = RecordingSyscalls()
        self.rootfs = rootfs
        self.new_user_namespace = False
        self.pivoted = False
        self.process: dict[str, Any] = {}
        self.warnings: list[tuple[str, str]] = []

    def warn(self, where: str, message: str, level: str = "warning") -> None:
        self.warnings.append((where, message))


# --- the plan as data ------------------------------------------------------------------------

def test_plan_phases_follow_the_protocol_order(unit_bundle: Any) -> None:
    data = unit_bundle.plan().to_json()
    assert [(p["phase"], p["side"]) for p in data["phases"]] == list(PHASES)
    names = [name for name, _ in PHASES]
    assert names.index("user-namespace") < names.index("id-maps") < names.index("namespaces")
    assert names.index("mounts") < names.index("devices") < names.index("pivot")
    assert names.index("pivot") < names.index("finalize-rootfs") < names.index("credentials")
    # seccomp loads last before "created" (runc's order): before the credentials without
    # noNewPrivileges, after them with it; start-container runs after `start`.
    assert names.index("process") < names.index("seccomp-privileged") \
        < names.index("credentials") < names.index("seccomp") < names.index("start-container")
    assert names[-1] == "start-container"


def test_plan_round_trips_through_json(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    data = json.loads(plan.dumps())
    assert data == json.loads(json.dumps(plan.to_json()))
    assert data == plan.to_json()
    executor_view = phases_from_json(data)
    assert [(phase, side) for phase, side, _ in executor_view] == list(PHASES)
    for phase, _side, ops in executor_view:
        assert ops == [op.to_json() for op in plan.ops(phase)]


def test_plan_json_lists_handlers_only_for_kinds_it_uses(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    handlers = plan.to_json()["handlers"]
    assert set(handlers) == plan.kinds()
    assert handlers["unshare"] == "limpet.plugins.namespaces.ops:unshare"
    assert "become-root" not in handlers   # no user namespace in the default config


def test_plan_add_rejects_an_unknown_phase() -> None:
    with pytest.raises(ValueError, match="unknown plan phase 'premount'"):
        Plan().add("premount", "mount")


def test_plan_process_facts(unit_bundle: Any) -> None:
    plan = unit_bundle.plan(preserve_fds=2)
    assert plan.process["args"] == ["sh"]
    assert plan.process["cwd"] == "/"
    assert plan.process["env"] == unit_bundle.config["process"]["env"]
    assert plan.process["rootfs"] == str(unit_bundle.rootfs)
    assert plan.process["preserveFds"] == 2


def test_every_op_records_where_it_comes_from_and_its_plugin(unit_bundle: Any) -> None:
    _spec, _raw, plan, loaded = unit_bundle.compile()
    for ops in plan.phases.values():
        for op in ops:
            assert op.where, op
            assert op.plugin in loaded.loaded, op


# --- namespaces ------------------------------------------------------------------------------

def test_new_namespaces_are_one_unshare_in_the_namespaces_phase(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    assert plan.ops("user-namespace") == []
    assert plan.ops("id-maps") == []
    op = only(plan, "namespaces", "unshare")
    assert op.args["types"] == ["pid", "network", "ipc", "uts", "mount"]
    assert op.where == "linux.namespaces"
    assert kinds(plan, "namespaces") == ["unshare"]


def test_new_network_namespace_brings_loopback_up(unit_bundle: Any) -> None:
    assert "loopback-up" in kinds(unit_bundle.plan(), "process")


def test_namespace_with_a_path_is_joined_not_created(unit_bundle: Any) -> None:
    net = "/proc/self/ns/net"
    unit_bundle.config["linux"]["namespaces"][1] = {"type": "network", "path": net}
    plan = unit_bundle.plan()
    join = only(plan, "namespaces", "join-namespaces")
    assert join.args["join"] == [{"type": "network", "path": net,
                                  "where": "linux.namespaces[1].path"}]
    unshare = only(plan, "namespaces", "unshare")
    assert unshare.args["types"] == ["pid", "ipc", "uts", "mount"]
    assert kinds(plan, "namespaces") == ["join-namespaces", "unshare"]
    assert "loopback-up" not in kinds(plan, "process")   # not our network namespace


def test_new_user_namespace_unshares_first_then_maps_ids_then_becomes_root(
        unit_bundle: Any) -> None:
    linux = unit_bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    plan = unit_bundle.plan()
    user = only(plan, "user-namespace", "unshare")
    assert user.args["types"] == ["user"]
    maps = only(plan, "id-maps", "write-id-maps")
    assert maps.args == {"uid": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                         "gid": [{"containerID": 0, "hostID": 200000, "size": 1000}]}
    assert kinds(plan, "namespaces") == ["become-root", "unshare"]
    assert "user" not in only(plan, "namespaces", "unshare").args["types"]


def test_joined_user_namespace_writes_no_id_maps(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"].append(
        {"type": "user", "path": "/proc/self/ns/user"})
    plan = unit_bundle.plan()
    join = only(plan, "user-namespace", "join-namespaces")
    assert join.args["join"] == [{"type": "user", "path": "/proc/self/ns/user",
                                  "where": "linux.namespaces[5].path"}]
    assert plan.ops("id-maps") == []
    assert "become-root" not in plan.kinds()


def test_hostname_and_domainname_are_process_ops(unit_bundle: Any) -> None:
    unit_bundle.config["hostname"] = "box"
    unit_bundle.config["domainname"] = "example.org"
    plan = unit_bundle.plan()
    assert only(plan, "process", "sethostname").args == {"name": "box"}
    assert only(plan, "process", "setdomainname").args == {"name": "example.org"}


# --- mounts ----------------------------------------------------------------------------------

def test_one_mount_op_per_mounts_entry_in_order(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    mounts = unit_bundle.config["mounts"]
    ops = plan.ops("mounts")
    assert [op.kind for op in ops] == ["mount"] * len(mounts)
    assert [op.where for op in ops] == [f"mounts[{i}]" for i in range(len(mounts))]
    assert [op.args["destination"] for op in ops] == [m["destination"] for m in mounts]
    proc = ops[0].args
    assert proc == {"destination": "/proc", "type": "proc", "source": "proc", "options": [],
                    "symlinks": "beneath"}
    assert ops[1].args["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]


@pytest.mark.parametrize("entry", [
    {"type": "bind", "options": ["rbind", "ro"]},
    {"type": "none", "options": ["rbind", "ro"]},
    {"options": ["bind"]},
])
def test_relative_bind_source_is_resolved_against_the_bundle(unit_bundle: Any,
                                                            entry: dict[str, Any]) -> None:
    (unit_bundle.path / "data").mkdir()
    unit_bundle.config["mounts"].append({"destination": "/data", "source": "data", **entry})
    op = unit_bundle.plan().ops("mounts")[-1]
    assert op.args["source"] == str(unit_bundle.path / "data")
    assert op.where == f"mounts[{len(unit_bundle.config['mounts']) - 1}]"


def test_non_bind_source_is_left_as_written(unit_bundle: Any) -> None:
    assert unit_bundle.plan().ops("mounts")[3].args["source"] == "shm"


def test_rootfs_is_made_a_slave_and_bound_before_the_mounts(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    assert kinds(plan, "rootfs") == ["rootfs-propagation", "bind-rootfs"]
    assert plan.ops("rootfs")[0].args == {"flag": "MS_SLAVE"}
    assert plan.ops("rootfs")[1].args == {"rootfs": str(unit_bundle.rootfs)}


def test_relative_root_path_is_resolved_against_the_bundle(unit_bundle: Any) -> None:
    unit_bundle.config["root"]["path"] = "rootfs"
    plan = unit_bundle.plan()
    assert plan.process["rootfs"] == str(unit_bundle.rootfs)


def test_pivot_root_op_follows_no_pivot(unit_bundle: Any) -> None:
    assert only(unit_bundle.plan(), "pivot", "pivot-root").args == {
        "no_pivot": False, "propagation": None}
    assert only(unit_bundle.plan(no_pivot=True), "pivot", "pivot-root").args["no_pivot"]


def test_shared_rootfs_propagation_is_applied_after_pivot_only(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["rootfsPropagation"] = "shared"
    plan = unit_bundle.plan()
    # The host's "/" must never receive our mounts: private first, shared after pivot.
    assert plan.ops("rootfs")[0].args == {"flag": "MS_PRIVATE"}
    assert only(plan, "pivot", "pivot-root").args["propagation"] == "MS_SHARED"


def test_masked_readonly_paths_and_readonly_root_finalize_the_rootfs(
        unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    linux = unit_bundle.config["linux"]
    assert kinds(plan, "finalize-rootfs") == ["mask-paths", "readonly-paths", "readonly-root"]
    assert only(plan, "finalize-rootfs", "mask-paths").args == {"paths": linux["maskedPaths"]}
    assert only(plan, "finalize-rootfs", "readonly-paths").args == {
        "paths": linux["readonlyPaths"]}
    assert only(plan, "finalize-rootfs", "readonly-root").where == "root.readonly"


def test_writable_root_without_masks_has_no_finalize_ops(unit_bundle: Any) -> None:
    unit_bundle.config["root"]["readonly"] = False
    del unit_bundle.config["linux"]["maskedPaths"]
    del unit_bundle.config["linux"]["readonlyPaths"]
    assert unit_bundle.plan().ops("finalize-rootfs") == []


def test_mounts_symlinks_option_reaches_every_mount_op(unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text("plugins:\n  options:\n    mounts:\n"
                                       "      symlinks: in-root\n")
    assert {op.args["symlinks"] for op in unit_bundle.plan().ops("mounts")} == {"in-root"}


# --- devices ---------------------------------------------------------------------------------

def test_default_devices_and_links_are_created(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    created = [op.args for op in plan.ops("devices") if op.kind == "create-device"]
    assert [a["path"] for a in created] == list(DEFAULT_DEVICES)
    assert created[0] == {"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                          "fileMode": 0o666, "uid": 0, "gid": 0}
    assert only(plan, "devices", "dev-links").args == {"links": LINKS}


def test_default_device_bind_mounted_by_the_config_is_skipped(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"].append(
        {"destination": "/dev/null", "type": "bind", "source": "/dev/null", "options": ["bind"]})
    unit_bundle.config["mounts"].append(
        {"destination": "/dev/stdout/", "type": "bind", "source": "/dev/null",
         "options": ["bind"]})
    plan = unit_bundle.plan()
    paths = [op.args["path"] for op in plan.ops("devices") if op.kind == "create-device"]
    assert "/dev/null" not in paths
    assert "/dev/zero" in paths
    assert "stdout" not in only(plan, "devices", "dev-links").args["links"]


def test_configured_devices_replace_defaults_and_keep_their_index(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600},
        {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "uid": 5}]
    plan = unit_bundle.plan()
    ops = [op for op in plan.ops("devices") if op.kind == "create-device"]
    assert [op.args["path"] for op in ops].count("/dev/tty") == 1
    fuse = next(op for op in ops if op.args["path"] == "/dev/fuse")
    assert fuse.where == "linux.devices[0]"
    assert fuse.args["fileMode"] == 0o600
    tty = next(op for op in ops if op.args["path"] == "/dev/tty")
    assert tty.where == "linux.devices[1]"
    assert tty.args["uid"] == 5


def test_bind_mounted_dev_gets_no_default_devices_or_links(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"].append(
        {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]})
    plan = unit_bundle.plan()
    assert plan.ops("devices") == []


# --- process ---------------------------------------------------------------------------------

def test_set_credentials_carries_user_groups_cwd_and_capability_sets(
        unit_bundle: Any) -> None:
    process = unit_bundle.config["process"]
    process["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 6], "umask": 0o077}
    process["cwd"] = "/home/user"
    plan = unit_bundle.plan()
    creds = only(plan, "credentials", "set-credentials")
    caps = process["capabilities"]
    assert creds.args == {
        "uid": 1000, "gid": 1001, "additionalGids": [5, 6], "cwd": "/home/user",
        "capabilities": {"bounding": caps["bounding"], "effective": caps["effective"],
                         "inheritable": [], "permitted": caps["permitted"],
                         "ambient": caps["ambient"]}}
    assert creds.where == "process.user"
    assert only(plan, "process", "set-umask").args == {"umask": 0o077}
    assert only(plan, "process", "set-home").args == {"uid": 1000}
    assert only(plan, "process", "prepare-cwd").args == {"cwd": "/home/user"}


def test_no_capabilities_section_leaves_capabilities_alone(unit_bundle: Any) -> None:
    del unit_bundle.config["process"]["capabilities"]
    del unit_bundle.config["process"]["user"]
    creds = only(unit_bundle.plan(), "credentials", "set-credentials").args
    assert creds["capabilities"] is None
    assert (creds["uid"], creds["gid"], creds["additionalGids"]) == (0, 0, [])


def test_no_new_privileges_comes_after_credentials(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    assert kinds(plan, "credentials") == ["set-credentials", "no-new-privileges"]
    unit_bundle.config["process"]["noNewPrivileges"] = False
    assert kinds(unit_bundle.plan(), "credentials") == ["set-credentials"]


def test_rlimits_keep_their_index(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["rlimits"].append(
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 20})
    op = only(unit_bundle.plan(), "process", "set-rlimits")
    assert op.args["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024, "where": "process.rlimits[0]"},
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 20, "where": "process.rlimits[1]"}]


# --- validation errors name the JSON path ----------------------------------------------------

def test_duplicate_namespace_type_names_the_second_entry(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"].insert(1, {"type": "pid"})
    err = spec_error(unit_bundle)
    assert err.where == "linux.namespaces[1].type"
    assert "linux.namespaces[0]" in err.message


def test_relative_mount_destination_names_the_mount(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"].append({"destination": "data", "type": "tmpfs",
                                         "source": "tmpfs"})
    err = spec_error(unit_bundle)
    assert err.where == f"mounts[{len(unit_bundle.config['mounts']) - 1}].destination"


def test_dotdot_in_mount_destination_names_the_mount(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"][2]["destination"] = "/dev/../etc"
    assert spec_error(unit_bundle).where == "mounts[2].destination"


def test_missing_bind_source_names_the_mount(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                         "source": "missing", "options": ["rbind"]})
    err = spec_error(unit_bundle)
    assert err.where == "mounts[7].source"
    assert str(unit_bundle.path / "missing") in err.message


def test_missing_namespace_path_names_the_namespace(unit_bundle: Any, tmp_path: Path) -> None:
    unit_bundle.config["linux"]["namespaces"][2] = {"type": "ipc",
                                                    "path": str(tmp_path / "no-such-ns")}
    err = spec_error(unit_bundle)
    assert err.where == "linux.namespaces[2].path"


def test_relative_namespace_path_names_the_namespace(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"][3] = {"type": "uts", "path": "proc/1/ns/uts"}
    assert spec_error(unit_bundle).where == "linux.namespaces[3].path"


def test_unknown_capability_names_the_set_and_index(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["capabilities"]["bounding"].append("CAP_FLY")
    err = spec_error(unit_bundle)
    assert err.where == "process.capabilities.bounding[3]"
    assert "CAP_FLY" in err.message


def test_hostname_without_uts_namespace_names_hostname(unit_bundle: Any) -> None:
    linux = unit_bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "uts"]
    err = spec_error(unit_bundle)
    assert err.where == "hostname"
    assert "uts" in err.message


def test_missing_rootfs_names_root_path(unit_bundle: Any) -> None:
    unit_bundle.rootfs.rmdir()
    err = spec_error(unit_bundle)
    assert err.where == "root.path"
    assert str(unit_bundle.rootfs) in err.message


def test_no_mount_namespace_names_linux_namespaces(unit_bundle: Any) -> None:
    linux = unit_bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "mount"]
    assert spec_error(unit_bundle).where == "linux.namespaces"


def test_joined_mount_namespace_is_not_a_new_one(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"][4] = {"type": "mount",
                                                    "path": "/proc/self/ns/mnt"}
    assert spec_error(unit_bundle).where == "linux.namespaces"


def test_id_maps_without_a_user_namespace_name_uid_mappings(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1, "size": 1}]
    assert spec_error(unit_bundle).where == "linux.uidMappings"


def test_new_user_namespace_without_maps_names_linux_namespaces(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"].append({"type": "user"})
    assert spec_error(unit_bundle).where == "linux.namespaces"


def test_rlimit_soft_above_hard_names_the_rlimit(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["rlimits"][0].update(soft=2048, hard=1024)
    assert spec_error(unit_bundle).where == "process.rlimits[0]"


def test_relative_cwd_names_process_cwd(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["cwd"] = "home"
    assert spec_error(unit_bundle).where == "process.cwd"


def test_env_entry_without_equals_names_its_index(unit_bundle: Any) -> None:
    unit_bundle.config["process"]["env"].append("JUSTANAME")
    assert spec_error(unit_bundle).where == "process.env[2]"


def test_duplicate_device_path_names_the_second_device(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    assert spec_error(unit_bundle).where == "linux.devices[1].path"


def test_unclaimed_field_fails_compile_with_its_path(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["intelRdt"] = {"closID": "guaranteed"}
    err = spec_error(unit_bundle)
    assert str(err).startswith("linux.intelRdt: no enabled plugin handles this")


def test_missing_config_json_names_the_bundle_flag(unit_bundle: Any) -> None:
    from limpet.core.create import compile_bundle

    req = unit_bundle.request()
    with pytest.raises(SpecError) as info:
        compile_bundle(req, req.root)
    assert info.value.where == "--bundle"


# --- op handlers against the recording fake --------------------------------------------------

def test_unshare_ors_the_clone_flags_into_one_call() -> None:
    ctx = FakeCtx()
    ns_ops.unshare(ctx, {"types": ["pid", "network", "ipc", "uts", "mount", "cgroup"]})
    expected = (const("CLONE_NEWPID") | const("CLONE_NEWNET") | const("CLONE_NEWIPC")
                | const("CLONE_NEWUTS") | const("CLONE_NEWNS") | const("CLONE_NEWCGROUP"))
    assert ctx.sys.calls == [("unshare", (expected,))]
    assert ctx.new_user_namespace is False


def test_unshare_of_a_user_namespace_marks_the_context() -> None:
    ctx = FakeCtx()
    ns_ops.unshare(ctx, {"types": ["user"]})
    assert ctx.sys.calls == [("unshare", (const("CLONE_NEWUSER"),))]
    assert ctx.new_user_namespace is True


def test_clone_flags_match_the_kernel_headers() -> None:
    assert const("CLONE_NEWNS") == 0x00020000
    assert const("CLONE_NEWUSER") == 0x10000000
    assert const("CLONE_NEWPID") == 0x20000000
    assert const("CLONE_NEWNET") == 0x40000000


def test_join_opens_every_namespace_then_setns_each(tmp_path: Path) -> None:
    ctx = FakeCtx()
    items = [{"type": "network", "path": "/proc/self/ns/net", "where": "linux.namespaces[1]"},
             {"type": "ipc", "path": "/proc/self/ns/ipc", "where": "linux.namespaces[2]"}]
    ns_ops.join(ctx, {"join": items})
    assert [(name, args[1:]) for name, args in ctx.sys.calls] == [
        ("setns", (const("CLONE_NEWNET"), "/proc/self/ns/net")),
        ("setns", (const("CLONE_NEWIPC"), "/proc/self/ns/ipc"))]


def test_join_of_a_missing_namespace_names_its_path(tmp_path: Path) -> None:
    from limpet.core.errors import ExecutionError

    ctx = FakeCtx()
    missing = str(tmp_path / "gone")
    with pytest.raises(ExecutionError) as info:
        ns_ops.join(ctx, {"join": [{"type": "ipc", "path": missing,
                                    "where": "linux.namespaces[2].path"}]})
    assert info.value.where == "linux.namespaces[2].path"
    assert ctx.sys.calls == []


def test_sethostname_and_setdomainname_ops() -> None:
    ctx = FakeCtx()
    ns_ops.set_hostname(ctx, {"name": "box"})
    ns_ops.set_domainname(ctx, {"name": "example.org"})
    assert ctx.sys.calls == [("sethostname", ("box",)), ("setdomainname", ("example.org",))]


def test_write_id_maps_writes_uid_and_gid_map_of_the_init(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    written: dict[str, str] = {}
    real_open = open

    def fake_open(path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if path.startswith("/proc/4242/"):
            target = tmp_path / os.path.basename(path)
            written[path] = ""
            return real_open(target, mode, *args, **kwargs)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)

    class Parent:
        init_pid = 4242

    ns_ops.write_id_maps(Parent(), {"uid": [{"containerID": 0, "hostID": 1000, "size": 1}],
                                    "gid": [{"containerID": 0, "hostID": 100, "size": 2},
                                            {"containerID": 5, "hostID": 5, "size": 1}]})
    assert sorted(written) == ["/proc/4242/gid_map", "/proc/4242/uid_map"]
    assert (tmp_path / "uid_map").read_text() == "0 1000 1\n"
    assert (tmp_path / "gid_map").read_text() == "0 100 2\n5 5 1\n"


def test_no_new_privileges_sets_pr_set_no_new_privs() -> None:
    ctx = FakeCtx()
    process_ops.no_new_privileges(ctx, {})
    assert ctx.sys.calls == [("prctl", (const("PR_SET_NO_NEW_PRIVS"), 1))]
    assert const("PR_SET_NO_NEW_PRIVS") == 38


def test_set_credentials_drops_bounding_then_switches_user_then_sets_caps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = FakeCtx()
    events = ctx.sys.calls
    for name in ("setgroups", "setresgid", "setresuid", "chdir"):
        monkeypatch.setattr(process_ops.os, name,
                            lambda *a, _n=name: events.append((_n, a)))
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    process_ops.set_credentials(ctx, {
        "uid": 1000, "gid": 1001, "additionalGids": [5], "cwd": "/home/user",
        "capabilities": {"bounding": caps, "effective": caps[:1], "permitted": caps,
                         "inheritable": [], "ambient": caps[1:]}})
    last = process_ops.last_cap()
    kill, bind = process_ops.CAP_NUMBER["CAP_KILL"], process_ops.CAP_NUMBER[
        "CAP_NET_BIND_SERVICE"]
    drops = [("prctl", (const("PR_CAPBSET_DROP"), n)) for n in range(last + 1)
             if n not in (kill, bind)]
    assert events == [
        *drops,
        ("prctl", (const("PR_SET_KEEPCAPS"), 1)),
        ("setgroups", ([5],)),
        ("setresgid", (1001, 1001, 1001)),
        ("setresuid", (1000, 1000, 1000)),
        ("prctl", (const("PR_SET_KEEPCAPS"), 0)),
        ("capset", (1 << kill, 1 << kill | 1 << bind, 0)),
        ("prctl", (const("PR_CAP_AMBIENT"), const("PR_CAP_AMBIENT_CLEAR_ALL"))),
        ("prctl", (const("PR_CAP_AMBIENT"), const("PR_CAP_AMBIENT_RAISE"), bind)),
        ("chdir", ("/home/user",)),
    ]


def test_set_credentials_without_capabilities_touches_no_capability(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = FakeCtx()
    for name in ("setgroups", "setresgid", "setresuid", "chdir"):
        monkeypatch.setattr(process_ops.os, name, lambda *a: None)
    process_ops.set_credentials(ctx, {"uid": 0, "gid": 0, "capabilities": None, "cwd": "/"})
    assert ctx.sys.calls == []


def test_set_home_uses_the_containers_passwd_unless_env_sets_it() -> None:
    ctx = FakeCtx()
    ctx.process = {"env": ["HOME=/custom"]}
    process_ops.set_home(ctx, {"uid": 0})
    assert ctx.process["env"] == ["HOME=/custom"]


def test_rootfs_propagation_and_bind_rootfs_ops() -> None:
    ctx = FakeCtx(rootfs="/bundle/rootfs")
    mount_ops.rootfs_propagation(ctx, {"flag": "MS_SLAVE"})
    mount_ops.bind_rootfs(ctx, {"rootfs": "/bundle/rootfs"})
    assert ctx.sys.calls == [
        ("mount", (None, "/", None, const("MS_SLAVE") | const("MS_REC"), None)),
        ("mount", ("/bundle/rootfs", "/bundle/rootfs", None,
                   const("MS_BIND") | const("MS_REC"), None))]


def test_parse_options_maps_flags_propagation_attrs_and_data() -> None:
    opts = mount_ops.parse_options(["nosuid", "nodev", "ro", "rbind", "rprivate", "rro",
                                    "tmpcopyup", "mode=755"])
    assert opts == {
        "flags": (const("MS_NOSUID") | const("MS_NODEV") | const("MS_RDONLY")
                  | const("MS_BIND") | const("MS_REC")),
        "clear": 0,
        "propagation": [const("MS_PRIVATE") | const("MS_REC")],
        "attr_set": const("MOUNT_ATTR_RDONLY"),
        "attr_clr": 0,
        "data": "mode=755",
        "tmpcopyup": True,
    }


def test_parse_options_clearing_options_clear_earlier_flags() -> None:
    opts = mount_ops.parse_options(["ro", "nosuid", "rw", "suid", "rrw"])
    assert opts["flags"] == 0
    assert opts["clear"] == const("MS_RDONLY") | const("MS_NOSUID")
    assert opts["attr_clr"] == const("MOUNT_ATTR_RDONLY")


def test_parse_options_plain_bind_is_not_recursive() -> None:
    opts = mount_ops.parse_options(["bind", "private"])
    assert opts["flags"] == const("MS_BIND")
    assert opts["propagation"] == [const("MS_PRIVATE")]


def test_parse_options_defaults_and_fs_data() -> None:
    opts = mount_ops.parse_options(["defaults", "size=65536k", "newinstance", "gid=5"])
    assert opts["flags"] == 0
    assert opts["data"] == "size=65536k,newinstance,gid=5"
    assert opts["tmpcopyup"] is False


@pytest.mark.parametrize("option", sorted([*mount_ops.FLAGS, *mount_ops.PROPAGATION,
                                           *mount_ops.RECURSIVE]))
def test_every_known_mount_option_maps_to_a_kernel_constant(option: str) -> None:
    opts = mount_ops.parse_options([option])
    assert opts["data"] == ""


def test_comounted_cgroup_controllers_get_links_like_runc() -> None:
    names = ["cpu,cpuacct", "memory", "net_cls,net_prio", "net_cls", "systemd", ""]
    assert mount_ops.comount_links(names) == [
        ("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct"), ("net_prio", "net_cls,net_prio")]
    assert mount_ops.comount_links(["cpu", "cpuacct", "memory"]) == []
