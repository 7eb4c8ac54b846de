"""The oci_hooks plugin without root: its plan (phases, args, plan.lifecycle), validation,
the hook runner on real (unprivileged) processes, the handlers with fake contexts, the
lifecycle hooks, and how ``start`` reports an error of the container's start-container
phase (config.md#posix-platform-hooks, runtime.md#lifecycle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from limpet.core import cli, lifecycle
from limpet.core.context import LifecycleContext
from limpet.core.errors import ContainerError, ExecutionError, SpecError
from limpet.core.state import Store, proc_start_time
from limpet.plugins.oci_hooks import ops, plugin, runner

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]
BASE = {"ociVersion": "1.3.0", "id": "c1", "bundle": "/bundles/c1",
        "annotations": {"org.example": "yes"}}


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def recorder(tmp_path: Path, name: str = "record.sh") -> tuple[str, Path]:
    """A hook that saves its stdin and environment."""
    out = tmp_path / f"{name}.out"
    return script(tmp_path, name, f'cat > {out}.stdin\nenv > {out}.env\n'), out


def stdin_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{out}.stdin").read_text())
    return data


def failure(hook: dict[str, Any], where: str = "hooks.prestart[0]",
            state: dict[str, Any] | None = None) -> ExecutionError:
    with pytest.raises(ExecutionError) as info:
        runner.run_hook(hook, state or runner.hook_state(BASE, "creating", 42), where)
    return info.value


# --- declaration and plan --------------------------------------------------------------------

def test_claims_hooks_and_the_features_document_lists_every_hook_kind(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.limpet_declare().claims == ("hooks",)
    assert cli.main(["features"]) == 0
    assert json.loads(capsys.readouterr().out)["hooks"] == KINDS


def test_each_hook_kind_is_planned_in_its_phase_with_its_state(unit_bundle: Any) -> None:
    unit_bundle.config["hooks"] = {
        kind: [{"path": f"/hooks/{kind}", "args": [kind, "x"], "env": ["A=1"], "timeout": 5}]
        for kind in KINDS}
    unit_bundle.config["annotations"] = {"org.example": "yes"}
    plan = unit_bundle.plan()
    entry = {"args": ["prestart", "x"], "env": ["A=1"], "timeout": 5, "path": "/hooks/prestart"}
    state = {"ociVersion": "1.3.0", "id": "unit-test", "bundle": str(unit_bundle.path),
             "annotations": {"org.example": "yes"}}
    runtime = plan.ops("create-runtime")
    assert [(op.kind, op.where, op.args["hook"]) for op in runtime] == [
        ("oci_hooks:runtime", "hooks.prestart", "prestart"),      # prestart MUST come first
        ("oci_hooks:runtime", "hooks.createRuntime", "createRuntime")]
    assert runtime[0].args["hooks"] == [entry]
    assert runtime[0].args["state"] == state
    [create_container] = plan.ops("create-container")
    assert (create_container.kind, create_container.args["status"]) == (
        "oci_hooks:container", "creating")
    [start_container] = plan.ops("start-container")
    assert (start_container.kind, start_container.args["status"]) == (
        "oci_hooks:container", "created")
    [record] = [op for op in plan.ops("prepare") if op.kind == "oci_hooks:record"]
    assert record.args["poststart"][0]["path"] == "/hooks/poststart"
    assert record.args["poststop"][0]["path"] == "/hooks/poststop"
    assert plan.lifecycle == {"limpet_started", "limpet_deleted"}
    assert plan.handlers["oci_hooks:container"] == "limpet.plugins.oci_hooks.ops:run_container"


@pytest.mark.parametrize("hooks", [None, {}, {"prestart": []}])
def test_no_hooks_plan_nothing_and_ask_for_no_lifecycle_hook(unit_bundle: Any,
                                                             hooks: Any) -> None:
    if hooks is not None:
        unit_bundle.config["hooks"] = hooks
    plan = unit_bundle.plan()
    assert not [k for k in plan.kinds() if k.startswith("oci_hooks:")]
    assert plan.lifecycle == set()


def test_only_poststart_makes_start_load_plugins_and_only_poststop_delete(
        unit_bundle: Any) -> None:
    unit_bundle.config["hooks"] = {"poststart": [{"path": "/h"}]}
    assert unit_bundle.plan().lifecycle == {"limpet_started"}
    unit_bundle.config["hooks"] = {"poststop": [{"path": "/h"}]}
    assert unit_bundle.plan().lifecycle == {"limpet_deleted"}


@pytest.mark.parametrize(("hooks", "where"), [
    ({"createRuntime": [{"path": "hooks/relative"}]}, "hooks.createRuntime[0].path"),
    ({"poststop": [{"path": "/a"}, {"path": "/b", "env": ["NOVALUE"]}]},
     "hooks.poststop[1].env[0]"),
    ({"prestart": [{"path": "/a", "env": ["=x"]}]}, "hooks.prestart[0].env[0]"),
    ({"startContainer": [{"path": "/a", "args": ["a", "b\u0000"]}]},
     "hooks.startContainer[0].args[1]"),
])
def test_invalid_hooks_are_refused_naming_the_field(unit_bundle: Any, hooks: Any,
                                                    where: str) -> None:
    unit_bundle.config["hooks"] = hooks
    with pytest.raises(SpecError) as info:
        unit_bundle.compile()
    assert info.value.where == where


# --- the runner ------------------------------------------------------------------------------

def test_a_hook_gets_the_state_on_stdin_and_exactly_its_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_LEAK", "the runtime's")
    path, out = recorder(tmp_path)
    state = runner.hook_state(BASE, "creating", 42)
    runner.run_hook({"path": path, "env": ["A=1", "B=x=y"]}, state, "hooks.prestart[0]")
    assert stdin_of(out) == {"ociVersion": "1.3.0", "id": "c1", "status": "creating",
                             "pid": 42, "bundle": "/bundles/c1",
                             "annotations": {"org.example": "yes"}}
    env = Path(f"{out}.env").read_text().splitlines()
    assert "A=1" in env and "B=x=y" in env
    assert not [line for line in env if line.startswith("LIMPET_LEAK=")]


def test_args_zero_is_argv_zero(tmp_path: Path) -> None:
    out = tmp_path / "cmdline"
    runner.run_hook({"path": "/bin/sh", "args": ["custom-name", "-c",
                                                 f"cat /proc/$$/cmdline > {out}"]},
                    BASE | {"status": "creating"}, "w")
    assert out.read_bytes().split(b"\0")[0] == b"custom-name"


def test_a_hook_gets_only_stdin_stdout_and_stderr() -> None:
    leaked_r, leaked_w = os.pipe()
    os.set_inheritable(leaked_w, True)
    # Exits with the number of the first open fd above 2 (no redirection: the shell would
    # keep a saved copy of its own).
    check = ("[ -e /proc/$$/fd/2 ] || exit 99; "
             "for fd in $(seq 3 63); do [ -e /proc/$$/fd/$fd ] && exit $fd; done; exit 0")
    try:
        assert leaked_w < 64
        runner.run_hook({"path": "/bin/sh", "args": ["sh", "-c", check]},
                        BASE | {"status": "creating"}, "w")
    finally:
        os.close(leaked_r)
        os.close(leaked_w)


def test_dockers_proc_exe_hook_form_works() -> None:
    """Docker's prestart hook is /proc/<dockerd pid>/exe libnetwork-setkey ...; the state
    must reach it on stdin."""
    check = ("import json, sys; s = json.load(sys.stdin); "
             "sys.exit(0 if (s['status'], s['pid']) == ('creating', 42) else 9)")
    runner.run_hook({"path": f"/proc/{os.getpid()}/exe",
                     "args": ["libnetwork-setkey", "-c", check]},
                    runner.hook_state(BASE, "creating", 42), "hooks.prestart[0]")


def test_a_failing_hook_names_its_path_status_and_the_tail_of_its_stderr(
        tmp_path: Path) -> None:
    path = script(tmp_path, "fail.sh", 'for i in $(seq 1 30); do echo "line $i" >&2; done\n'
                                       "echo 'to stdout'\nexit 3\n")
    err = failure({"path": path}, "hooks.createRuntime[0]")
    assert err.where == "hooks.createRuntime[0]"
    assert err.message.startswith(f"{path} exited with status 3: line 11; line 12; ")
    assert err.message.endswith("; line 30")
    assert "line 10" not in err.message and "to stdout" not in err.message


def test_a_hook_killed_by_a_signal_says_which() -> None:
    err = failure({"path": "/bin/sh", "args": ["sh", "-c", "kill -TERM $$"]})
    assert err.message == "/bin/sh was killed by signal 15 (SIGTERM)"


def test_a_missing_hook_cannot_be_executed(tmp_path: Path) -> None:
    err = failure({"path": str(tmp_path / "nope")}, "hooks.poststart[2]")
    assert str(err) == f"hooks.poststart[2]: cannot execute {tmp_path}/nope: " \
                       "No such file or directory"


def test_a_timed_out_hook_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = script(tmp_path, "slow.sh", f"echo $$ > {pids}\nsleep 600 &\necho $! >> {pids}\n"
                                       "wait\n")
    err = failure({"path": path, "timeout": 1}, "hooks.prestart[1]")
    assert str(err) == f"hooks.prestart[1]: {path} timed out after 1 s (killed)"
    started = [int(p) for p in pids.read_text().split()]
    assert [proc_start_time(p) for p in started] == [None, None]


def test_the_runner_waits_for_the_hook_not_for_what_it_left_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon"
    path = script(tmp_path, "daemon.sh", f"sleep 600 &\necho $! > {pid_file}\n"
                                         "head -c 1000000 /dev/zero\n")
    try:
        runner.run_hook({"path": path}, BASE | {"status": "creating"}, "w")
    finally:
        os.kill(int(pid_file.read_text()), 9)


# --- handlers --------------------------------------------------------------------------------

class FakeParent:
    def __init__(self) -> None:
        self.target_pid = 4321
        self.facts: dict[str, Any] = {}
        self.undo: list[Any] = []


def test_runtime_hooks_get_the_container_process_host_pid_and_status_creating(
        tmp_path: Path) -> None:
    path, out = recorder(tmp_path)
    ops.run_runtime(FakeParent(), {"hook": "createRuntime", "hooks": [{"path": path}],
                                   "state": BASE})
    assert (stdin_of(out)["status"], stdin_of(out)["pid"]) == ("creating", 4321)


def test_container_hooks_get_the_pid_as_the_container_sees_it(tmp_path: Path) -> None:
    path, out = recorder(tmp_path)
    ops.run_container(object(), {"hook": "startContainer", "hooks": [{"path": path}],
                                 "state": BASE, "status": "created"})
    assert (stdin_of(out)["status"], stdin_of(out)["pid"]) == ("created", os.getpid())


def test_container_hook_failure_names_the_hook_index(tmp_path: Path) -> None:
    ok, _ = recorder(tmp_path)
    bad = script(tmp_path, "bad.sh", "exit 1\n")
    with pytest.raises(ExecutionError) as info:
        ops.run_container(object(), {"hook": "createContainer", "state": BASE,
                                     "status": "creating",
                                     "hooks": [{"path": ok}, {"path": bad}]})
    assert info.value.where == "hooks.createContainer[1]"


def test_record_saves_poststart_and_poststop_and_arms_poststop_for_a_failed_create(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(ops.log, "warning", warnings.append)
    bad = script(tmp_path, "bad.sh", "echo gone >&2\nexit 1\n")
    path, out = recorder(tmp_path)
    pctx = FakeParent()
    ops.record(pctx, {"poststart": [], "poststop": [{"path": bad}, {"path": path}],
                      "state": BASE})
    assert pctx.facts == {"ociHooks": {"poststart": [],
                                       "poststop": [{"path": bad}, {"path": path}]}}
    [undo] = pctx.undo
    undo()   # what the rollback of a failed create does
    assert warnings == [f"hooks.poststop[0]: {bad} exited with status 1: gone"]
    assert stdin_of(out)["status"] == "stopped" and "pid" not in stdin_of(out)
    pctx = FakeParent()
    ops.record(pctx, {"poststart": [{"path": path}], "poststop": [], "state": BASE})
    assert pctx.undo == []


# --- lifecycle hooks: poststart in start, poststop in delete ---------------------------------

def lifecycle_ctx(pid: int | None, **hooks: Any) -> LifecycleContext:
    state = {"id": "c1", "bundle": "/bundles/c1", "pid": pid,
             "initStartTime": proc_start_time(pid) if pid else None,
             "facts": {"ociHooks": {"poststart": [], "poststop": [], **hooks}}}
    return LifecycleContext("c1", "/bundles/c1", "/run/limpet/c1", pid, state)


def test_poststart_hooks_get_status_running_and_the_host_pid(tmp_path: Path) -> None:
    path, out = recorder(tmp_path)
    plugin.limpet_started(ctx=lifecycle_ctx(os.getpid(), poststart=[{"path": path}]))
    assert (stdin_of(out)["status"], stdin_of(out)["pid"]) == ("running", os.getpid())


def test_lifecycle_hooks_return_at_once_for_a_container_without_hooks() -> None:
    ctx = LifecycleContext("c1", "/b", "/run/limpet/c1", 1, {"id": "c1", "bundle": "/b"})
    plugin.limpet_started(ctx=ctx)
    plugin.limpet_deleted(ctx=ctx)


def test_a_failing_poststart_hook_stops_the_container(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    container = subprocess.Popen(["sleep", "600"])
    try:
        monkeypatch.setattr(lifecycle, "container_pids", lambda state: [container.pid])
        bad = script(tmp_path, "bad.sh", "echo 'no network' >&2\nexit 2\n")
        with pytest.raises(ExecutionError) as info:
            plugin.limpet_started(ctx=lifecycle_ctx(container.pid, poststart=[{"path": bad}]))
        assert str(info.value) == (f"hooks.poststart[0]: {bad} exited with status 2: "
                                   "no network; the container was stopped")
        assert container.wait() == -9
    finally:
        container.kill()
        container.wait()


def test_poststop_failures_are_warnings_and_every_hook_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(ops.log, "warning", warnings.append)
    bad = script(tmp_path, "bad.sh", "exit 7\n")
    path, out = recorder(tmp_path)
    plugin.limpet_deleted(ctx=lifecycle_ctx(None, poststop=[{"path": bad}, {"path": path}]))
    assert warnings == [f"hooks.poststop[0]: {bad} exited with status 7"]
    assert stdin_of(out) == {"ociVersion": "1.3.0", "id": "c1", "status": "stopped",
                             "bundle": "/bundles/c1"}


# --- start reports an error of the start-container phase -------------------------------------

def _created(tmp_path: Path) -> tuple[Store, str]:
    store = Store(str(tmp_path / "root"))
    store.make_dir("c1")
    store.write("c1", {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "status": "created",
                       "pid": os.getpid(), "initStartTime": proc_start_time(os.getpid()),
                       "hooks": []})
    fifo = os.path.join(store.dir("c1"), "exec.fifo")
    os.mkfifo(fifo)
    return store, fifo


def _fake_init(fifo: str, report: bytes) -> subprocess.Popen[bytes]:
    """Writes its byte once start opens the fifo, then what a failing init writes."""
    code = (f"import os; fd = os.open({fifo!r}, os.O_WRONLY); os.write(fd, b'0'); "
            f"os.write(fd, {report!r})")
    return subprocess.Popen([sys.executable, "-c", code])


def test_start_fails_with_the_error_of_a_start_container_hook(tmp_path: Path) -> None:
    store, fifo = _created(tmp_path)
    error = ExecutionError("hooks.startContainer[0]", "/h exited with status 4: no ldconfig")
    init = _fake_init(fifo, json.dumps(error.to_wire()).encode())
    try:
        with pytest.raises(ExecutionError) as info:
            lifecycle.start(store, "c1")
    finally:
        init.wait()
    assert str(info.value) == "hooks.startContainer[0]: /h exited with status 4: no ldconfig"
    assert not os.path.exists(fifo)


def test_start_reports_garbage_after_the_byte_as_a_failure(tmp_path: Path) -> None:
    store, fifo = _created(tmp_path)
    init = _fake_init(fifo, b"not json")
    try:
        with pytest.raises(ContainerError, match="failed after start: not json"):
            lifecycle.start(store, "c1")
    finally:
        init.wait()
