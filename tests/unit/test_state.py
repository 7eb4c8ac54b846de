"""The state store (limpet.core.state): container ids, atomic state.json, and the status
derived from the init's liveness (runtime-spec runtime.md#state)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import ContainerError
from limpet.core.state import (
    OCI_VERSION,
    Store,
    check_id,
    not_found,
    oci_state,
    proc_start_time,
    status,
    wait_gone,
)


def dead_pid() -> int:
    """A pid that existed a moment ago and has been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def state_data(**extra: Any) -> dict[str, Any]:
    return {"ociVersion": OCI_VERSION, "id": "c1", "bundle": "/b", "status": "created",
            **extra}


# --- ids -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["", "../x", "a/b", "/abs", ".", "..", "a b", "x;y", "a\0b"])
def test_check_id_rejects_paths_and_odd_characters(bad: str) -> None:
    with pytest.raises(ContainerError) as info:
        check_id(bad)
    assert info.value.where == "container id"


@pytest.mark.parametrize("good", ["c1", "my-container", "a.b_c+d", "0123456789abcdef" * 4,
                                  "..x"])
def test_check_id_accepts_runc_ids(good: str) -> None:
    assert check_id(good) == good


def test_check_id_rejects_a_trailing_newline() -> None:
    with pytest.raises(ContainerError):
        check_id("abc\n")


def test_store_dir_refuses_an_escaping_id(tmp_path: Path) -> None:
    with pytest.raises(ContainerError):
        Store(str(tmp_path)).dir("../etc")


# --- state.json ------------------------------------------------------------------------------

def test_write_then_read_round_trips(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "root"))
    store.make_dir("c1")
    data = state_data(pid=123, annotations={"a": "b"}, teardown=[{"kind": "x", "args": {}}])
    store.write("c1", data)
    assert store.read("c1") == data
    assert json.loads((tmp_path / "root" / "c1" / "state.json").read_text()) == data


def test_write_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.make_dir("c1")
    store.write("c1", state_data(pid=1))
    inode = os.stat(tmp_path / "c1" / "state.json").st_ino
    store.write("c1", state_data(pid=2))
    assert store.read("c1")["pid"] == 2
    assert os.listdir(tmp_path / "c1") == ["state.json"]
    # A rename, not an in-place rewrite: a reader never sees a half-written file.
    assert os.stat(tmp_path / "c1" / "state.json").st_ino != inode


def test_make_dir_fails_when_the_id_is_taken(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.make_dir("c1")
    with pytest.raises(ContainerError, match="container with id c1 already exists"):
        store.make_dir("c1")


def test_read_of_a_missing_container_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="container nope does not exist"):
        Store(str(tmp_path)).read("nope")
    assert str(not_found("nope")) == "container nope does not exist"


def test_ids_lists_only_directories_with_state(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    assert Store(str(tmp_path / "absent")).ids() == []
    for name in ("b", "a"):
        store.make_dir(name)
        store.write(name, state_data(id=name))
    (tmp_path / "half-created").mkdir()
    assert store.ids() == ["a", "b"]
    assert store.exists("a")
    assert not store.exists("half-created")


def test_lock_of_a_missing_container_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="does not exist"), \
            Store(str(tmp_path)).lock("ghost"):
        pass


# --- status ----------------------------------------------------------------------------------

def test_status_of_a_pid_that_does_not_exist_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "exec.fifo").touch()
    data = state_data(pid=dead_pid(), initStartTime=12345)
    assert status(data, str(tmp_path)) == "stopped"


def test_status_of_a_recycled_pid_is_stopped(tmp_path: Path) -> None:
    data = state_data(pid=os.getpid(), initStartTime=proc_start_time(os.getpid()) - 1)
    assert status(data, str(tmp_path)) == "stopped"


def test_status_with_live_init_and_exec_fifo_is_created(tmp_path: Path) -> None:
    (tmp_path / "exec.fifo").touch()
    data = state_data(pid=os.getpid(), initStartTime=proc_start_time(os.getpid()))
    assert status(data, str(tmp_path)) == "created"


def test_status_with_live_init_and_no_fifo_is_running(tmp_path: Path) -> None:
    data = state_data(pid=os.getpid(), initStartTime=proc_start_time(os.getpid()))
    assert status(data, str(tmp_path)) == "running"


def test_status_paused_when_the_control_module_says_frozen(tmp_path: Path) -> None:
    """The freezer is asked through the module the cgroups plugin recorded (facts.control),
    before exec.fifo: a frozen created container is paused too (runc)."""
    (tmp_path / "freezer.state").write_text("FROZEN\n")
    facts = {"control": "limpet.plugins.cgroups.control",
             "cgroups": {"driver": "v1", "dirs": [{"hierarchy": "freezer", "path": str(tmp_path),
                                                   "mount": "/", "controllers": ["freezer"]}]}}
    data = state_data(pid=os.getpid(), initStartTime=proc_start_time(os.getpid()), facts=facts)
    (tmp_path / "exec.fifo").touch()
    assert status(data, str(tmp_path)) == "paused"
    (tmp_path / "freezer.state").write_text("THAWED\n")
    assert status(data, str(tmp_path)) == "created"
    assert status(state_data(pid=os.getpid(), initStartTime=proc_start_time(os.getpid()),
                             paused=True), str(tmp_path)) == "created"   # no longer trusted


def test_status_creating_lasts_while_the_creating_runtime_lives(tmp_path: Path) -> None:
    me = os.getpid()
    alive = state_data(pid=None, status="creating", creatorPid=me,
                       creatorStartTime=proc_start_time(me))
    assert status(alive, str(tmp_path)) == "creating"
    gone = state_data(pid=None, status="creating", creatorPid=me, creatorStartTime=1)
    assert status(gone, str(tmp_path)) == "stopped"   # the runtime died mid-create
    assert status({"pid": None}, str(tmp_path)) == "stopped"


def test_zombie_init_is_stopped(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    try:
        assert wait_gone(child.pid, timeout=5.0)     # a zombie counts as gone
        assert proc_start_time(child.pid) is None
        data = state_data(pid=child.pid, initStartTime=12345)
        assert status(data, str(tmp_path)) == "stopped"
    finally:
        child.wait()


def test_status_of_a_dead_pid_is_stopped_even_without_a_start_time(tmp_path: Path) -> None:
    assert status(state_data(pid=dead_pid()), str(tmp_path)) == "stopped"


def test_proc_start_time_of_a_missing_pid_is_none() -> None:
    assert proc_start_time(dead_pid()) is None
    assert isinstance(proc_start_time(os.getpid()), int)


def test_wait_gone_times_out_for_a_live_process() -> None:
    assert wait_gone(os.getpid(), timeout=0.01) is False


# --- the OCI state document ------------------------------------------------------------------

def test_oci_state_of_a_running_container_has_its_pid() -> None:
    data = state_data(pid=42, annotations={"k": "v"}, teardown=[], hooks=[])
    assert oci_state(data, "running") == {"ociVersion": OCI_VERSION, "id": "c1",
                                          "status": "running", "bundle": "/b", "pid": 42,
                                          "annotations": {"k": "v"}}


def test_oci_state_of_a_stopped_container_has_pid_zero() -> None:
    out = oci_state(state_data(pid=42), "stopped")
    assert out["pid"] == 0
    assert "annotations" not in out


def test_remove_tree_removes_files_dirs_fifos_and_symlinks(tmp_path: Path) -> None:
    from limpet.core.state import remove_tree

    top = tmp_path / "c1"
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "state.json").write_text("{}")
    (top / "sub" / "deeper" / "f").write_text("x")
    os.mkfifo(top / "exec.fifo")
    (top / "link").symlink_to(tmp_path)          # must not be followed
    (tmp_path / "outside").write_text("keep")
    remove_tree(str(top))
    assert not top.exists()
    assert (tmp_path / "outside").read_text() == "keep"
