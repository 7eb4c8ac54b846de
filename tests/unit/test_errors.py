"""The exception tree (limpet.core.errors): rendering, the JSON wire format errors take from
the init to the runtime, and the OSError choke point."""

from __future__ import annotations

import errno
import json

import pytest
from limpet.core.errors import (
    _KINDS,
    ConfigError,
    ContainerError,
    ExecutionError,
    LimpetError,
    ProgramNotFound,
    SpecError,
    StateTransitionError,
    UsageError,
    from_wire,
    os_error,
)

WIRE_KINDS = sorted(_KINDS.values(), key=lambda cls: cls.__name__)


def test_render_names_where_first() -> None:
    assert str(SpecError("linux.namespaces[2].type", "bad")) == "linux.namespaces[2].type: bad"
    assert str(LimpetError(None, "just a message")) == "just a message"


def test_notes_are_part_of_the_rendered_text() -> None:
    err = ExecutionError("mounts[3]", "mount failed")
    err.add_note("mounting proc at /proc")
    assert str(err) == "mounts[3]: mount failed; mounting proc at /proc"


def test_usage_errors_exit_2_and_others_exit_1() -> None:
    assert UsageError("--bundle", "x").exit_code == 2
    assert SpecError("root", "x").exit_code == 1
    assert ConfigError("config.yaml", "x").exit_code == 1


def test_state_transition_error_says_from_and_to() -> None:
    err = StateTransitionError("c1", "stopped", "start")
    assert isinstance(err, ContainerError)
    assert err.status == "stopped"
    assert str(err) == "cannot start container 'c1' in status 'stopped'"


@pytest.mark.parametrize("cls", WIRE_KINDS, ids=lambda cls: cls.__name__)
def test_wire_round_trip_keeps_class_where_errno_hint_and_notes(cls: type[LimpetError]) -> None:
    err = cls("mounts[2].destination", "cannot mount", errno=errno.EACCES, hint="try again")
    err.add_note("mounting tmpfs at /dev")
    err.add_note("in the container")
    wire = json.loads(json.dumps(err.to_wire()))   # it travels as JSON
    back = from_wire(wire)
    assert type(back) is cls
    assert back.where == "mounts[2].destination"
    assert back.message == "cannot mount"
    assert back.errno == errno.EACCES
    assert back.hint == "try again"
    assert back.__notes__ == ["mounting tmpfs at /dev", "in the container"]
    assert str(back) == str(err)


def test_wire_round_trip_without_optional_fields() -> None:
    back = from_wire(ProgramNotFound(None, "exec: \"x\": no such file").to_wire())
    assert type(back) is ProgramNotFound
    assert back.where is None
    assert back.errno is None
    assert getattr(back, "__notes__", []) == []


def test_unknown_wire_kind_becomes_an_execution_error() -> None:
    back = from_wire({"kind": "SomethingNew", "message": "boom", "where": "x"})
    assert type(back) is ExecutionError
    assert str(back) == "x: boom"


def test_wire_without_a_message_still_says_something() -> None:
    assert from_wire({}).message == "unknown error"


def test_os_error_keeps_errno_and_the_path() -> None:
    exc = OSError(errno.ENOENT, "No such file or directory", "/bundle/rootfs/proc")
    err = os_error("mounts[0]", "mount", exc)
    assert isinstance(err, ExecutionError)
    assert err.where == "mounts[0]"
    assert err.errno == errno.ENOENT
    assert err.message == "mount /bundle/rootfs/proc: No such file or directory"


def test_os_error_keeps_both_paths() -> None:
    exc = OSError(errno.EXDEV, "x", "/src", None, "/dst")
    assert os_error(None, "move_mount", exc).message == \
        "move_mount /src -> /dst: Invalid cross-device link"


def test_os_error_eperm_gets_a_hint() -> None:
    err = os_error("linux.sysctl", "write", OSError(errno.EPERM, "x"))
    assert err.hint and "EPERM" in err.hint
    assert os_error(None, "open", OSError(errno.ENOENT, "x", "/a")).hint is None


def test_os_error_without_errno_uses_the_exception_text() -> None:
    err = os_error(None, "op", OSError("weird failure"))
    assert err.errno == 0
    assert err.message == "op: weird failure"
