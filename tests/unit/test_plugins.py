"""The plugin manager (limpet.core.plugins) and the hooks the core calls on plugins.

Fake plugins are in-memory modules served by a patched ``_entry_points`` (see conftest);
built-in ones come from the real entry points of the editable install.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from limpet.core import config, lifecycle, plugins, sync
from limpet.core import create as create_module
from limpet.core.context import HostInfo, LifecycleContext, PlanContext
from limpet.core.create import create
from limpet.core.errors import ConfigError, ExecutionError, SpecError
from limpet.core.pluginapi import Backend, hookimpl
from limpet.core.state import Store, proc_start_time, status
from pydantic import BaseModel, ConfigDict

BUILTINS = {"namespaces", "mounts", "devices", "process"}


def load(tmp_path: Path, text: str | None = None) -> plugins.Plugins:
    path = tmp_path / "config.yaml"
    if text is not None:
        path.write_text(text)
    runtime_config, doc, where = config.load(str(path))
    return plugins.load(runtime_config, doc, where)


def load_error(tmp_path: Path, text: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


class ExampleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extra: list[str] = []
    level: int = 1


# --- loading ---------------------------------------------------------------------------------

def test_builtin_plugins_load_from_entry_points(tmp_path: Path) -> None:
    loaded = load(tmp_path)
    assert set(loaded.loaded) >= BUILTINS
    for name in BUILTINS:
        plugin = loaded.loaded[name]
        assert plugin.entry_point == f"limpet.plugins.{name}.plugin"
        assert plugin.source.startswith("limpet ")
        assert plugin.info.name == name
        assert "limpet_declare" in plugin.hooks
        assert loaded.pm.get_plugin(name) is plugin.module


def test_builtin_claims_and_op_handlers_are_merged(tmp_path: Path) -> None:
    loaded = load(tmp_path)
    assert loaded.claims["linux.namespaces"] == "namespaces"
    assert loaded.claims["mounts"] == "mounts"
    assert loaded.claims["linux.devices"] == "devices"
    assert loaded.claims["process.capabilities"] == "process"
    assert loaded.handlers["unshare"] == "limpet.plugins.namespaces.ops:unshare"
    assert loaded.handlers["pivot-root"] == "limpet.plugins.mounts.ops:pivot_root"


def test_blocking_a_plugin_removes_it_and_its_claims(tmp_path: Path) -> None:
    loaded = load(tmp_path, "plugins:\n  block: [devices]\n")
    assert "devices" not in loaded.loaded
    assert "linux.devices" not in loaded.claims
    assert "create-device" not in loaded.handlers
    assert "devices" in loaded.available


def test_blocked_plugin_field_in_config_json_fails_create(unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text("plugins:\n  block: [devices]\n")
    unit_bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    with pytest.raises(SpecError) as info:
        unit_bundle.compile()
    assert info.value.where == "linux.devices"
    assert "no enabled plugin handles this" in info.value.message


def test_blocked_plugin_plans_nothing(unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text("plugins:\n  block: [devices]\n")
    plan = unit_bundle.plan()
    assert plan.ops("devices") == []


def test_two_plugins_claiming_one_path_is_an_error_naming_both(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("rival-mounts", make_plugin("rival-mounts", ("mounts",)))
    err = load_error(tmp_path)
    assert "'mounts'" in err.message
    assert "'rival-mounts'" in err.message
    assert "both claim 'mounts'" in err.message


def test_blocking_one_of_two_rivals_resolves_the_conflict(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("rival-mounts", make_plugin("rival-mounts", ("mounts",)))
    loaded = load(tmp_path, "plugins:\n  block: [mounts]\n")
    assert loaded.claims["mounts"] == "rival-mounts"


def test_claim_nested_in_another_plugins_claim_is_an_error(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("mount-extras", make_plugin("mount-extras", ("mounts.options",)))
    err = load_error(tmp_path)
    assert "'mounts.options'" in err.message
    assert "inside 'mounts'" in err.message
    assert "'mount-extras'" in err.message


def test_duplicated_op_kind_is_an_error(tmp_path: Path, plugin_set: Any,
                                        make_plugin: Any) -> None:
    plugin_set.add("other-ns", make_plugin("other-ns", ("linux.intelRdt",),
                                           handlers={"unshare": "fake_other_ns:unshare"}))
    err = load_error(tmp_path)
    assert "'unshare'" in err.message


def test_duplicated_op_kind_error_names_both_plugins(tmp_path: Path, plugin_set: Any,
                                                     make_plugin: Any) -> None:
    plugin_set.add("other-ns", make_plugin("other-ns", ("linux.intelRdt",),
                                           handlers={"unshare": "fake_other_ns:unshare"}))
    err = load_error(tmp_path)
    assert "'namespaces'" in err.message
    assert "'other-ns'" in err.message


def test_enabled_plugin_without_limpet_declare_cannot_load(only_fake_plugins: Any,
                                                           tmp_path: Path) -> None:
    import types

    only_fake_plugins.add("bare", types.ModuleType("fake_bare"))
    err = load_error(tmp_path, "plugins:\n  enable: [bare]\n")
    assert err.where == "plugin 'bare'"
    assert "limpet_declare" in err.message


class _Broken:
    name = "broken"
    value = "broken_pkg.plugin"
    dist = None

    def load(self) -> Any:
        raise ImportError("No module named 'broken_pkg'")


def test_enabled_plugin_that_fails_to_import_is_named(only_fake_plugins: Any,
                                                      tmp_path: Path) -> None:
    only_fake_plugins.entry_points["broken"] = _Broken()
    err = load_error(tmp_path, "plugins:\n  enable: [broken]\n")
    assert err.where == "plugin 'broken'"
    assert "broken_pkg.plugin" in err.message


def test_broken_plugin_not_enabled_is_skipped_with_a_warning(
        only_fake_plugins: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Claims keep this fail-closed: what the broken plugin would apply is unclaimed."""
    only_fake_plugins.entry_points["broken"] = _Broken()
    loaded = load(tmp_path)
    assert "broken" not in loaded.loaded
    assert "plugin 'broken' skipped" in capsys.readouterr().err


class _FoundAfterPth:
    """A plugin importable only once the .pth files of site-packages are read."""

    value = "editable_pkg.plugin"
    reachable = False

    def load(self) -> Any:
        if not self.reachable:
            raise ImportError("No module named 'editable_pkg'")
        return "module"


def test_pth_files_are_read_only_when_a_plugin_is_not_found_without_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ep, reads = _FoundAfterPth(), []

    def read_pth() -> bool:
        reads.append(1)
        ep.reachable = True
        return True

    monkeypatch.setattr(plugins, "_add_site_packages", read_pth)
    assert plugins._load_entry_point(ep) == "module"
    assert reads == [1]
    assert plugins._load_entry_point(ep) == "module"
    assert reads == [1]


def test_a_plugin_missing_after_the_pth_files_were_read_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "_add_site_packages", lambda: False)   # read already
    with pytest.raises(ImportError, match="editable_pkg"):
        plugins._load_entry_point(_FoundAfterPth())


def test_entry_point_defined_twice_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                               original_entry_points: Any) -> None:
    found = [metadata.EntryPoint("dup", "pkg_a.plugin", plugins.GROUP),
             metadata.EntryPoint("dup", "pkg_b.plugin", plugins.GROUP)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: found)
    with pytest.raises(ConfigError) as info:
        original_entry_points()
    assert "pkg_a.plugin" in info.value.message
    assert "pkg_b.plugin" in info.value.message


def test_fake_plugin_source_is_unknown_without_a_distribution(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("extra", make_plugin("extra", ("linux.intelRdt",)))
    assert load(tmp_path).loaded["extra"].source == "unknown"


# --- options ---------------------------------------------------------------------------------

def test_plugin_options_are_validated_by_its_model(tmp_path: Path, plugin_set: Any,
                                                   make_plugin: Any) -> None:
    plugin_set.add("example", make_plugin("example", ("linux.intelRdt",),
                                          options=ExampleOptions))
    loaded = load(tmp_path, "plugins:\n  options:\n    example:\n      extra: [/dev/fuse]\n")
    options = loaded.options()["example"]
    assert isinstance(options, ExampleOptions)
    assert options.extra == ["/dev/fuse"]
    assert options.level == 1


def test_plugin_options_default_when_the_section_is_absent(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("example", make_plugin("example", ("linux.intelRdt",),
                                          options=ExampleOptions))
    loaded = load(tmp_path)
    ctx = PlanContext("c1", "/b", "/run/limpet/c1", HostInfo(), options=loaded.options())
    assert ctx.options_set("example") is None
    assert ctx.options_for("example") == ExampleOptions()
    assert ctx.options_for("example") is ctx.options_for("example")   # built once


def test_plugin_option_typo_names_plugins_options_name_key(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("example", make_plugin("example", ("linux.intelRdt",),
                                          options=ExampleOptions))
    path = tmp_path / "config.yaml"
    err = load_error(tmp_path, "plugins:\n  options:\n    example:\n      extar: []\n")
    assert err.where == f"{path}:4"
    assert err.message.startswith("plugins.options.example.extar: unknown key")


def test_plugin_option_bad_value_names_plugins_options_name_key(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("example", make_plugin("example", ("linux.intelRdt",),
                                          options=ExampleOptions))
    err = load_error(tmp_path, "plugins:\n  options:\n    example:\n      level: high\n")
    assert err.message.startswith("plugins.options.example.level:")


def test_options_for_a_plugin_without_an_options_model_are_an_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, "plugins:\n  options:\n    devices:\n      anything: 1\n")
    assert err.message.startswith("plugins.options.devices:")
    assert "takes no options" in err.message


def test_plugin_sees_its_options_in_the_plan_context(unit_bundle: Any, plugin_set: Any,
                                                     make_plugin: Any) -> None:
    seen: list[Any] = []

    def limpet_plan(spec: Any, plan: Any, ctx: PlanContext) -> None:
        seen.append(ctx.options_for("example"))

    plugin_set.add("example", make_plugin("example", ("linux.intelRdt",),
                                          options=ExampleOptions, limpet_plan=limpet_plan))
    unit_bundle.config_file.write_text("plugins:\n  options:\n    example: {level: 3}\n")
    unit_bundle.compile()
    assert seen == [ExampleOptions(level=3)]


# --- opt-in plugins --------------------------------------------------------------------------

def test_opt_in_plugin_is_not_loaded_unless_enabled(tmp_path: Path, plugin_set: Any,
                                                    make_plugin: Any) -> None:
    plugin_set.add("optional", make_plugin("optional", ("linux.intelRdt",),
                                           default_enabled=False))
    loaded = load(tmp_path)
    assert "optional" not in loaded.loaded
    assert "linux.intelRdt" not in loaded.claims
    assert "optional" in loaded.available


def test_opt_in_plugin_loads_when_listed_in_enable(tmp_path: Path, plugin_set: Any,
                                                   make_plugin: Any) -> None:
    plugin_set.add("optional", make_plugin("optional", ("linux.intelRdt",),
                                           default_enabled=False))
    loaded = load(tmp_path, "plugins:\n  enable: [optional]\n")
    assert "optional" in loaded.loaded
    assert loaded.claims["linux.intelRdt"] == "optional"


def test_block_wins_over_enable(tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("optional", make_plugin("optional", ("linux.intelRdt",),
                                           default_enabled=False))
    loaded = load(tmp_path, "plugins:\n  enable: [optional]\n  block: [optional]\n")
    assert "optional" not in loaded.loaded


# --- backends (limpet_backends) --------------------------------------------------------------

def _backend_plugin(make_plugin: Any, name: str, *names: str) -> Any:
    backends = [Backend("example-area", n, factory=f"factory-{n}") for n in names]
    return make_plugin(name, (f"linux.{name}",), backends=backends)


def test_limpet_backends_are_collected_by_area_and_name(tmp_path: Path, plugin_set: Any,
                                                        make_plugin: Any) -> None:
    plugin_set.add("cg", _backend_plugin(make_plugin, "cg", "v1", "v2"))
    loaded = load(tmp_path)
    assert sorted(loaded.backends["example-area"]) == ["v1", "v2"]
    assert loaded.backends["example-area"]["v2"].factory == "factory-v2"


def test_config_chooses_a_backend_by_name_for_the_plan_context(
        unit_bundle: Any, plugin_set: Any, make_plugin: Any) -> None:
    seen: list[Any] = []

    def limpet_validate(spec: Any, ctx: PlanContext) -> None:
        seen.append(ctx.backends)

    module = _backend_plugin(make_plugin, "cg", "v1", "v2")
    module.limpet_validate = hookimpl(limpet_validate)
    plugin_set.add("cg", module)
    unit_bundle.config_file.write_text("backends:\n  example-area: v2\n")
    unit_bundle.compile()
    assert [b["example-area"].name for b in seen] == ["v2"]


def test_unknown_backend_name_is_an_error_listing_the_available_ones(
        tmp_path: Path, plugin_set: Any, make_plugin: Any) -> None:
    plugin_set.add("cg", _backend_plugin(make_plugin, "cg", "v1", "v2"))
    err = load_error(tmp_path, "backends:\n  example-area: v3\n")
    assert err.message.startswith("backends.example-area: unknown backend 'v3'")
    assert "v1, v2" in err.message


def test_two_plugins_offering_one_backend_is_an_error(tmp_path: Path, plugin_set: Any,
                                                      make_plugin: Any) -> None:
    plugin_set.add("cg-a", _backend_plugin(make_plugin, "cg-a", "v2"))
    plugin_set.add("cg-b", _backend_plugin(make_plugin, "cg-b", "v2"))
    err = load_error(tmp_path)
    assert "'cg-a'" in err.message
    assert "'cg-b'" in err.message


# --- limpet_validate / limpet_plan of third-party plugins ------------------------------------

def test_limpet_validate_error_stops_compile_with_its_path(unit_bundle: Any, plugin_set: Any,
                                                           make_plugin: Any) -> None:
    def limpet_validate(spec: Any, ctx: PlanContext) -> None:
        raise SpecError("linux.intelRdt.closID", "not supported here")

    plugin_set.add("rdt", make_plugin("rdt", ("linux.intelRdt",),
                                      limpet_validate=limpet_validate))
    unit_bundle.config["linux"]["intelRdt"] = {"closID": "guaranteed"}
    with pytest.raises(SpecError) as info:
        unit_bundle.compile()
    assert str(info.value) == "linux.intelRdt.closID: not supported here"


def test_limpet_plan_ops_record_the_plugin_and_its_handler(unit_bundle: Any, plugin_set: Any,
                                                           make_plugin: Any) -> None:
    def limpet_plan(spec: Any, plan: Any, ctx: PlanContext) -> None:
        plan.add("process", "rdt:set-clos", "linux.intelRdt",
                 closID=spec.linux.intel_rdt.clos_id)

    plugin_set.add("rdt", make_plugin(
        "rdt", ("linux.intelRdt",), limpet_plan=limpet_plan,
        handlers={"rdt:set-clos": "rdt_ops:set_clos"}))
    unit_bundle.config["linux"]["intelRdt"] = {"closID": "guaranteed"}
    plan = unit_bundle.plan()
    [op] = [op for op in plan.ops("process") if op.kind == "rdt:set-clos"]
    assert op.plugin == "rdt"
    assert op.where == "linux.intelRdt"
    assert op.args == {"closID": "guaranteed"}
    assert plan.to_json()["handlers"]["rdt:set-clos"] == "rdt_ops:set_clos"


def test_op_kind_without_a_handler_fails_compile(unit_bundle: Any, plugin_set: Any,
                                                 make_plugin: Any) -> None:
    def limpet_plan(spec: Any, plan: Any, ctx: PlanContext) -> None:
        plan.add("process", "orphan-op", None)

    plugin_set.add("orphan", make_plugin("orphan", ("linux.intelRdt",),
                                         limpet_plan=limpet_plan))
    with pytest.raises(ExecutionError) as info:
        unit_bundle.compile()
    assert "orphan-op" in info.value.message


def test_limpet_trace_reports_each_hook_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LIMPET_TRACE", "1")
    loaded = load(tmp_path)
    loaded.hook.limpet_op_handlers()
    err = capfd.readouterr().err
    [line] = [line for line in err.splitlines() if "hook limpet_op_handlers [" in line]
    assert line.startswith("limpet-trace: [+") and line.endswith(" ms")
    assert "namespaces" in line


# --- lifecycle hooks: limpet_created, limpet_started, limpet_deleted -------------------------

def _recorder(make_plugin: Any, calls: list[tuple[str, LifecycleContext]], *hooks: str,
              fail: bool = False, ask: bool = True) -> Any:
    """A plugin implementing ``hooks``; ``ask``: its limpet_plan asks for them
    (plan.lifecycle), as a container needs them to be recorded in state.json."""
    def hook_for(name: str) -> Any:
        def hook(ctx: LifecycleContext) -> None:
            calls.append((name, ctx))
            if fail:
                raise RuntimeError(f"{name} failed")

        return hook

    def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
        if ask:
            plan.lifecycle.update(hooks)

    return make_plugin("recorder", ("linux.intelRdt",), limpet_plan=limpet_plan,
                       **{name: hook_for(name) for name in hooks})


def _write_state(root: Path, container_id: str, **data: Any) -> Store:
    store = Store(str(root))
    store.make_dir(container_id)
    store.write(container_id, {"ociVersion": "1.3.0", "id": container_id,
                               "bundle": "/nonexistent/bundle", "status": "created", **data})
    return store


def test_create_reports_created_and_calls_limpet_created(
        unit_bundle: Any, plugin_set: Any, make_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, LifecycleContext]] = []
    plugin_set.add("recorder", _recorder(make_plugin, calls, "limpet_created"))
    # Parent-side ops (cgroup directories, ...) would change the host: record them only.
    parent_ops: list[str] = []
    monkeypatch.setattr(create_module, "run_parent_ops",
                        lambda pctx, ops, handlers: parent_ops.extend(o.kind for o in ops))
    unit_bundle.write()
    req = unit_bundle.request(pid_file=str(unit_bundle.path / "pid"))
    # Stand-ins for the init (a child to reap) and the container process (still running).
    init = subprocess.Popen(["true"])
    container = subprocess.Popen(["sleep", "60"])
    ours, theirs = socket.socketpair()
    try:
        sync.send(theirs, {"pid": container.pid})
        sync.send(theirs, {"ready": True})
        state = create(req, init.pid, ours)
        assert sync.recv(theirs)["plan"]["phases"][0]["phase"] == "prepare"
        state_dir = os.path.join(req.root, req.container_id)
        assert state["status"] == "created"
        assert state["pid"] == container.pid
        assert "limpet_created" in state["hooks"]
        assert (unit_bundle.path / "pid").read_text() == str(container.pid)
        on_disk = json.loads(Path(state_dir, "state.json").read_text())
        assert status(on_disk, state_dir) == "created"
        [(name, ctx)] = calls
        assert name == "limpet_created"
        assert (ctx.container_id, ctx.pid, ctx.state_dir) == (req.container_id,
                                                             container.pid, state_dir)
    finally:
        theirs.close()
        container.kill()
        container.wait()
        init.returncode = 0   # reaped by create()


def test_only_the_lifecycle_hooks_a_plan_asks_for_are_recorded(
        unit_bundle: Any, plugin_set: Any, make_plugin: Any) -> None:
    calls: list[tuple[str, LifecycleContext]] = []
    plugin_set.add("recorder", _recorder(make_plugin, calls, "limpet_started",
                                         "limpet_deleted", ask=False))
    # Implemented is not enough: start and delete would load every plugin for nothing.
    assert unit_bundle.plan().lifecycle == set()
    plugin_set.add("recorder", _recorder(make_plugin, calls, "limpet_started"))
    assert unit_bundle.plan().lifecycle == {"limpet_started"}


def test_a_plan_asking_for_an_unknown_lifecycle_hook_fails(
        unit_bundle: Any, plugin_set: Any, make_plugin: Any) -> None:
    def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
        plan.lifecycle.add("limpet_paused")

    plugin_set.add("asker", make_plugin("asker", ("linux.intelRdt",), limpet_plan=limpet_plan))
    with pytest.raises(ExecutionError, match="unknown lifecycle hook.*limpet_paused"):
        unit_bundle.plan()


def test_start_releases_the_init_and_calls_limpet_started(
        tmp_path: Path, plugin_set: Any, make_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_CONFIG", str(tmp_path / "no-config.yaml"))
    calls: list[tuple[str, LifecycleContext]] = []
    plugin_set.add("recorder", _recorder(make_plugin, calls, "limpet_started"))
    store = _write_state(tmp_path / "root", "c1", pid=os.getpid(),
                         initStartTime=proc_start_time(os.getpid()),
                         hooks=["limpet_started"])
    fifo = os.path.join(store.dir("c1"), "exec.fifo")
    os.mkfifo(fifo)
    # The "init": writes its byte once start opens the fifo, then "execs" (closes it).
    init = subprocess.Popen(["sh", "-c", f"printf 0 > {fifo}"])
    try:
        lifecycle.start(store, "c1")
    finally:
        init.wait()
    assert not os.path.exists(fifo)
    assert [(name, ctx.container_id, ctx.pid) for name, ctx in calls] == [
        ("limpet_started", "c1", os.getpid())]


def test_delete_calls_limpet_deleted_before_removing_the_state_dir(
        tmp_path: Path, plugin_set: Any, make_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_CONFIG", str(tmp_path / "no-config.yaml"))
    calls: list[tuple[str, LifecycleContext]] = []
    seen_dir: list[bool] = []
    module = _recorder(make_plugin, calls, "limpet_deleted")
    original = module.limpet_deleted

    def limpet_deleted(ctx: LifecycleContext) -> None:
        seen_dir.append(os.path.isdir(ctx.state_dir))
        original(ctx)

    module.limpet_deleted = hookimpl(limpet_deleted)
    plugin_set.add("recorder", module)
    store = _write_state(tmp_path / "root", "c1", pid=None, status="stopped",
                         hooks=["limpet_deleted"])
    lifecycle.delete(store, "c1")
    assert [name for name, _ in calls] == ["limpet_deleted"]
    assert seen_dir == [True]
    assert not os.path.exists(store.dir("c1"))


def test_lifecycle_hook_errors_are_warnings_and_delete_goes_on(
        tmp_path: Path, plugin_set: Any, make_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_CONFIG", str(tmp_path / "no-config.yaml"))
    calls: list[tuple[str, LifecycleContext]] = []
    plugin_set.add("recorder", _recorder(make_plugin, calls, "limpet_deleted", fail=True))
    store = _write_state(tmp_path / "root", "c1", pid=None, status="stopped",
                         hooks=["limpet_deleted"])
    lifecycle.delete(store, "c1")
    assert len(calls) == 1
    assert not os.path.exists(store.dir("c1"))


def test_lifecycle_hooks_are_skipped_when_state_records_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(cache_dir: str | None = None) -> Any:
        raise AssertionError("plugins must not be loaded")

    monkeypatch.setattr(plugins, "_entry_points", fail)
    store = _write_state(tmp_path / "root", "c1", pid=None, status="stopped", hooks=[])
    lifecycle.delete(store, "c1")
    assert not os.path.exists(store.dir("c1"))


def test_entry_points_are_cached_until_the_installation_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from limpet.core import entrypoints

    scans: list[int] = []
    real_scan = entrypoints.scan

    def counting_scan(group: str) -> Any:
        scans.append(1)
        return real_scan(group)

    monkeypatch.setattr(entrypoints, "scan", counting_scan)
    first = {ep.name: ep.value for ep in entrypoints.load("limpet.plugins", str(tmp_path))}
    again = entrypoints.load("limpet.plugins", str(tmp_path))
    assert len(scans) == 1 and (tmp_path / entrypoints.CACHE_NAME).exists()
    assert {ep.name: ep.value for ep in again} == first
    cached = next(ep for ep in again if ep.name == "devices")
    assert cached.load().__name__ == "limpet.plugins.devices.plugin"
    assert cached.dist is not None and cached.dist.name == "limpet"
    extra = tmp_path / "site"
    extra.mkdir()
    monkeypatch.syspath_prepend(str(extra))       # another path entry: a fresh scan
    entrypoints.load("limpet.plugins", str(tmp_path))
    assert len(scans) == 2
    os.utime(extra, ns=(1, 1))                    # a distribution added there: rescan
    entrypoints.load("limpet.plugins", str(tmp_path))
    assert len(scans) == 3
    (tmp_path / entrypoints.CACHE_NAME).write_text("{broken")
    entrypoints.load("limpet.plugins", str(tmp_path))
    assert len(scans) == 4
