"""The OCI lifecycle through the CLI: create, start, state, kill, delete, run, list
(runtime.md#lifecycle, #operations), with runc's wording where engines parse it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from limpet.core.state import proc_start_time

from tests.conftest import LIMPET, Bundle, Runtime

pytestmark = pytest.mark.root


def _wait_status(limpet: Runtime, cid: str, wanted: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = limpet.state(cid)["status"]
        if status == wanted:
            return status
        time.sleep(0.02)
    return status


def test_create_start_state_kill_delete(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    pid_file = bundle.path / "init.pid"
    assert limpet("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file),
                  "c1").returncode == 0
    state = limpet.state("c1")
    assert state["status"] == "created"
    assert state["ociVersion"] == "1.3.0"
    assert state["bundle"] == str(bundle.path)
    # The pid file is the decimal pid with no newline, as runc writes it.
    assert pid_file.read_text() == str(state["pid"])
    # The created init waits without having executed the program yet.
    assert os.readlink(f"/proc/{state['pid']}/exe") != "/bin/sleep"
    assert limpet("start", "c1").returncode == 0
    assert limpet.state("c1")["status"] == "running"
    with open(f"/proc/{state['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"/bin/sleep", b"60"]
    assert limpet("kill", "c1", "KILL").returncode == 0
    assert _wait_status(limpet, "c1", "stopped") == "stopped"
    assert limpet("delete", "c1").returncode == 0
    assert limpet.containers() == []
    assert limpet("state", "c1").returncode != 0


def test_start_twice_fails(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("create", "--bundle", str(bundle.path), "twice", check=True)
    limpet("start", "twice", check=True)
    again = limpet("start", "twice")
    assert again.returncode != 0
    assert "cannot start an already running container" in again.stderr


def test_delete_running_needs_force(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "busy", check=True)
    pid = limpet.state("busy")["pid"]
    refused = limpet("delete", "busy")
    assert refused.returncode != 0
    assert "cannot delete container busy that is not stopped: running" in refused.stderr
    assert limpet("delete", "--force", "busy").returncode == 0
    assert proc_start_time(pid) is None   # gone, or a zombie for its reaper
    assert limpet.containers() == []


def test_delete_created_container_without_force(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("create", "--bundle", str(bundle.path), "fresh", check=True)
    assert limpet("delete", "fresh").returncode == 0
    assert limpet.containers() == []


def test_delete_force_of_absent_container_exits_zero(limpet: Runtime) -> None:
    assert limpet("delete", "--force", "never-existed").returncode == 0
    missing = limpet("delete", "never-existed")
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr


def test_kill_all_signals_every_process(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sh", "-c", "sleep 60 & sleep 60 & wait").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "family", check=True)
    time.sleep(0.3)
    assert limpet("kill", "--all", "family", "9").returncode == 0
    assert _wait_status(limpet, "family", "stopped") == "stopped"


def test_kill_accepts_numbers_and_names(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sh", "-c", "trap 'exit 3' USR1; while :; do sleep 0.1; done").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "sig", check=True)
    time.sleep(0.3)
    assert limpet("kill", "sig", "SIGUSR1").returncode == 0
    assert _wait_status(limpet, "sig", "stopped") == "stopped"
    bad = limpet("kill", "sig", "NOTASIGNAL")
    assert bad.returncode != 0


def test_run_returns_the_program_exit_status(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sh", "-c", "echo out; echo err >&2; exit 42").write()
    result = limpet("run", "--bundle", str(bundle.path), "exit42")
    assert result.returncode == 42
    assert result.stdout == "out\n"
    assert "err" in result.stderr
    assert limpet.containers() == []


def test_run_reports_death_by_signal_as_128_plus_signal(limpet: Runtime,
                                                         bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    run = subprocess.Popen([LIMPET, "--root", limpet.root, "run", "--bundle",
                            str(bundle.path), "sig9"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while limpet("state", "sig9").returncode != 0 or \
                limpet.state("sig9")["status"] != "running":
            assert time.monotonic() < deadline, "container never reached running"
            time.sleep(0.05)
        assert limpet("kill", "sig9", "9").returncode == 0
        assert run.wait(timeout=10) == 137
    finally:
        run.kill()
        run.wait()
    assert limpet.containers() == []


def _wait_running(limpet: Runtime, cid: str) -> None:
    deadline = time.monotonic() + 10
    while limpet("state", cid).returncode != 0 or limpet.state(cid)["status"] != "running":
        assert time.monotonic() < deadline, "container never reached running"
        time.sleep(0.05)


TRAP_TERM = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"


def test_foreground_run_forwards_a_signal_to_the_container(limpet: Runtime,
                                                           bundle: Bundle) -> None:
    """As runc run: SIGTERM to the runtime reaches the container's process (whose trap
    exits 7), and run returns that status."""
    bundle.set_args("/bin/sh", "-c", TRAP_TERM).write()
    run = subprocess.Popen([LIMPET, "--root", limpet.root, "run", "--bundle",
                            str(bundle.path), "fwd"], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None and run.stdout.readline() == "ready\n"
        run.send_signal(15)
        assert run.wait(timeout=10) == 7
        assert "got-term" in run.stdout.read()
    finally:
        run.kill()
        run.wait()
    assert limpet.containers() == []


def test_foreground_exec_forwards_a_signal_to_the_process(limpet: Runtime,
                                                          bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "fwdexec", check=True)
    _wait_running(limpet, "fwdexec")
    exec_ = subprocess.Popen([LIMPET, "--root", limpet.root, "exec", "fwdexec", "/bin/sh",
                              "-c", TRAP_TERM], stdout=subprocess.PIPE, text=True)
    try:
        assert exec_.stdout is not None and exec_.stdout.readline() == "ready\n"
        exec_.send_signal(15)
        assert exec_.wait(timeout=10) == 7
    finally:
        exec_.kill()
        exec_.wait()
    assert limpet.state("fwdexec")["status"] == "running"   # only the exec'd process


def test_list_shows_containers_as_table_json_and_ids(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("create", "--bundle", str(bundle.path), "listed", check=True)
    table = limpet("list").stdout
    assert "listed" in table and "created" in table
    rows = json.loads(limpet("list", "--format", "json").stdout)
    assert [(r["id"], r["status"]) for r in rows] == [("listed", "created")]
    assert limpet("list", "-q").stdout.split() == ["listed"]


def test_create_with_a_taken_id_fails(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("create", "--bundle", str(bundle.path), "dup", check=True)
    again = limpet("create", "--bundle", str(bundle.path), "dup")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert limpet.state("dup")["status"] == "created"


def test_json_log_format_carries_the_error(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/nonexistent-program").write()
    log = bundle.path / "log.json"
    result = limpet("--log", str(log), "--log-format=json", "create", "--bundle",
                    str(bundle.path), "logged")
    assert result.returncode != 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error"
    assert "no such file or directory" in last["msg"]
    assert "time" in last


def test_state_of_a_dead_init_is_stopped(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/true").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "quick", check=True)
    assert _wait_status(limpet, "quick", "stopped") == "stopped"
    assert limpet("delete", "quick").returncode == 0


def test_spec_writes_a_runc_like_config(tmp_path: os.PathLike[str],
                                        limpet: Runtime) -> None:
    assert limpet("spec", "--bundle", str(tmp_path)).returncode == 0
    config = json.loads((tmp_path / "config.json").read_text())  # type: ignore[operator]
    assert config["process"]["args"] == ["sh"]
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert {ns["type"] for ns in config["linux"]["namespaces"]} == {
        "pid", "network", "ipc", "uts", "mount"}
    again = limpet("spec", "--bundle", str(tmp_path))
    assert again.returncode != 0 and "exists" in again.stderr
    rootless = tmp_path / "rootless"  # type: ignore[operator]
    rootless.mkdir()
    assert limpet("spec", "--rootless", "--bundle", str(rootless)).returncode == 0
    config = json.loads((rootless / "config.json").read_text())
    assert "user" in {ns["type"] for ns in config["linux"]["namespaces"]}
    assert config["linux"]["uidMappings"][0]["hostID"] == os.geteuid()


def test_waiting_init_is_lean_and_orphaned(limpet: Runtime, bundle: Bundle) -> None:
    """The init forks before pydantic/pluggy/rich are imported and is left to the caller's
    subreaper: nothing of the heavy stack is mapped into it, and its parent is not limpet."""
    bundle.set_args("/bin/sleep", "60").write()
    limpet("create", "--bundle", str(bundle.path), "lean", check=True)
    pid = limpet.state("lean")["pid"]
    maps = Path(f"/proc/{pid}/maps").read_text()
    for heavy in ("pydantic_core", "_ruamel_yaml", "pycparser"):
        assert heavy not in maps
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert b"limpet" not in Path(f"/proc/{ppid}/cmdline").read_bytes()


def test_container_whose_create_died_can_be_deleted(limpet: Runtime) -> None:
    half = Path(limpet.root) / "half"
    half.mkdir(parents=True)
    (half / "state.json").write_text(json.dumps({
        "ociVersion": "1.3.0", "id": "half", "bundle": "/nowhere", "status": "creating",
        "pid": None, "creatorPid": 2**22 + 7, "creatorStartTime": 1}))
    assert limpet.state("half")["status"] == "stopped"
    assert limpet("delete", "half").returncode == 0
    assert limpet.containers() == []


def test_kill_all_spares_the_pod_sharing_the_pid_namespace(
        limpet: Runtime, bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> None:
    """CRI pod containers join the pause container's pid namespace and the shim sends
    `kill --all ID 9` for them: only the container's own processes may die."""
    bundle.set_args("/bin/sleep", "60").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "pause", check=True)
    pause_pid = limpet.state("pause")["pid"]
    member = Bundle(tmp_path_factory.mktemp("member"), json.loads(json.dumps(bundle.config)))
    member.config["linux"]["namespaces"] = [
        {"type": "mount"}, {"type": "pid", "path": f"/proc/{pause_pid}/ns/pid"}]
    member.config.pop("hostname", None)
    member.set_args("/bin/sh", "-c", "sleep 60 & wait").write()
    limpet("run", "-d", "--bundle", str(member.path), "member", check=True)
    time.sleep(0.3)
    assert limpet("kill", "--all", "member", "9").returncode == 0
    assert _wait_status(limpet, "member", "stopped") == "stopped"
    assert limpet.state("pause")["status"] == "running"


def test_trace_times_each_plugin_hook_and_each_phase(limpet: Runtime, bundle: Bundle) -> None:
    """LIMPET_TRACE=1 (issue 7): where create's milliseconds go, on stderr."""
    bundle.write()
    limpet.extra_env["LIMPET_TRACE"] = "1"
    result = limpet("create", "--bundle", str(bundle.path), "traced")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("limpet-trace: [+")]
    assert lines and len(lines) == result.stderr.count("limpet-trace: ")
    # "limpet-trace: [+END] LABEL DURATION ms": END is ms since the command started
    steps = {}
    for line in lines:
        end, rest = line.removeprefix("limpet-trace: [+").split("] ", 1)
        label, duration, _ = rest.rsplit(" ", 2)
        steps[label] = (float(end), float(duration))
    labels = set(steps)
    for plugin in ("namespaces", "mounts", "devices", "process", "seccomp"):
        assert f"hook limpet_validate [{plugin}]" in labels
        assert f"hook limpet_plan [{plugin}]" in labels
    for phase in ("prepare [parent]", "namespaces [init]", "mounts [container]",
                  "pivot [container]", "credentials [container]"):
        assert f"phase {phase}" in labels
    assert all(line.endswith(" ms") for line in lines)
    warm = [label for label in labels if label.startswith("cgroup attach lock taken ")]
    assert warm and warm[0].endswith(" times [init]"), labels   # core/cgroupwarm.py
    # one timeline for both processes: the init's namespaces phase starts after the
    # runtime's prepare ended (it waits for the prepare ack)
    prepare_end = steps["phase prepare [parent]"][0]
    namespaces_end, namespaces_took = steps["phase namespaces [init]"]
    assert prepare_end <= namespaces_end - namespaces_took + 0.1
    limpet.extra_env.pop("LIMPET_TRACE")
    assert limpet("delete", "--force", "traced").returncode == 0
