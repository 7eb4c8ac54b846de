"""The seccomp op handlers and the core's call_parent round trip, without root: the
loading handler against a fake syscall seam, the listener handler against a unix socket in
tmp_path."""

from __future__ import annotations

import base64
import errno
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from limpet.core import sync
from limpet.core.create import ParentContext, _run_call
from limpet.core.errors import ExecutionError
from limpet.core.init import InitContext
from limpet.core.syscalls import const
from limpet.plugins.seccomp import ops

BPF = bytes(range(16))


class FakeSyscalls:
    """Records seccomp_filter; returns a real fd (a pipe's end) as the notify fd."""

    def __init__(self, fail: int | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail = fail
        self.notify_fd = -1

    def seccomp_filter(self, bpf: bytes, flags: int = 0) -> int:
        self.calls.append(("seccomp_filter", (bpf, flags)))
        if self.fail:
            raise OSError(self.fail, os.strerror(self.fail))
        r, w = os.pipe()
        os.close(w)
        self.notify_fd = r
        return r


class FakeCtx:
    def __init__(self, fail: int | None = None) -> None:
        self.sys = FakeSyscalls(fail)
        self.calls: list[tuple[str, list[int], dict[str, Any]]] = []

    def call_parent(self, kind: str, fds: list[int] | None = None, **args: Any) -> None:
        fds = list(fds or [])
        os.fstat(fds[0])   # still open while the runtime handles it
        self.calls.append((kind, fds, args))


def load_args(**extra: Any) -> dict[str, Any]:
    return {"bpf": base64.b64encode(BPF).decode(), "flags": [], "listener": None,
            "where": "linux.seccomp", **extra}


def test_load_filter_passes_the_program_and_the_flags() -> None:
    ctx = FakeCtx()
    ops.load_filter(ctx, load_args(flags=["SECCOMP_FILTER_FLAG_LOG",
                                          "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]))
    assert ctx.sys.calls == [("seccomp_filter", (BPF, const("SECCOMP_FILTER_FLAG_LOG")
                                                 | const("SECCOMP_FILTER_FLAG_SPEC_ALLOW")))]
    assert ctx.calls == []


def test_load_filter_hands_the_notify_fd_to_the_runtime_and_closes_it() -> None:
    ctx = FakeCtx()
    listener = {"path": "/run/agent.sock", "metadata": "m", "ociVersion": "1.3.0"}
    ops.load_filter(ctx, load_args(flags=["SECCOMP_FILTER_FLAG_NEW_LISTENER"],
                                   listener=listener))
    assert ctx.calls == [("seccomp-listener", [ctx.sys.notify_fd], listener)]
    with pytest.raises(OSError) as info:
        os.fstat(ctx.sys.notify_fd)   # the container never keeps the notify fd
    assert info.value.errno == errno.EBADF


def test_a_refused_filter_is_an_execution_error_with_a_hint() -> None:
    with pytest.raises(ExecutionError) as info:
        ops.load_filter(FakeCtx(fail=errno.EACCES), load_args())
    assert info.value.where == "linux.seccomp"
    assert "the kernel refused the filter (2 instructions" in info.value.message
    assert info.value.hint and "CAP_SYS_ADMIN" in info.value.hint


class Pctx:
    container_id = "c1"
    bundle = "/bundles/c1"
    pid = 4242
    annotations = {"k": "v"}


def serve_once(path: Path) -> tuple[threading.Thread, dict[str, Any]]:
    """A listener that takes one connection and records the message and the fds."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    got: dict[str, Any] = {"data": b"", "fds": []}

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            while True:
                data, fds, _, _ = socket.recv_fds(conn, 4096, 4)
                got["fds"] += fds
                if not data:
                    break
                got["data"] += data

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def test_listener_gets_the_container_process_state_and_one_fd(tmp_path: Path) -> None:
    thread, got = serve_once(tmp_path / "agent.sock")
    r, w = os.pipe()
    try:
        ops.send_to_listener(Pctx(), {"fds": [r], "path": str(tmp_path / "agent.sock"),
                                      "metadata": "MKNOD=/dev/null", "ociVersion": "1.3.0"})
        thread.join()
        assert json.loads(got["data"]) == {
            "ociVersion": "1.3.0", "fds": ["seccompFd"], "pid": 4242,
            "metadata": "MKNOD=/dev/null",
            "state": {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 4242,
                      "bundle": "/bundles/c1", "annotations": {"k": "v"}}}
        assert len(got["fds"]) == 1
        assert os.fstat(got["fds"][0]).st_ino == os.fstat(r).st_ino
    finally:
        for fd in (r, w, *got["fds"]):
            os.close(fd)


def test_no_metadata_means_no_metadata_field(tmp_path: Path) -> None:
    thread, got = serve_once(tmp_path / "agent.sock")
    r, w = os.pipe()
    try:
        ops.send_to_listener(Pctx(), {"fds": [r], "path": str(tmp_path / "agent.sock"),
                                      "metadata": None, "ociVersion": "1.3.0"})
        thread.join()
        assert "metadata" not in json.loads(got["data"])
    finally:
        for fd in (r, w, *got["fds"]):
            os.close(fd)


def test_an_unreachable_listener_is_an_error_naming_listener_path(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(ExecutionError) as info:
            ops.send_to_listener(Pctx(), {"fds": [r], "path": str(tmp_path / "none.sock"),
                                          "ociVersion": "1.3.0"})
    finally:
        os.close(r)
        os.close(w)
    assert info.value.where == "linux.seccomp.listenerPath"
    assert "cannot send the seccomp notify fd to" in info.value.message


# --- the core round trip: InitContext.call_parent and create._run_call ----------------------

def test_call_parent_sends_the_op_with_its_fds_and_waits_for_the_ack() -> None:
    init_end, runtime_end = socket.socketpair()
    ctx = InitContext({"rootfs": "/", "bundle": "/b", "state_dir": "/s", "plan": {}},
                      init_end)
    r, w = os.pipe()
    received: dict[str, Any] = {}

    reply_r, reply_w = os.pipe()
    returned: list[int] = []

    def runtime() -> None:
        received.update(sync.recv(runtime_end) or {})
        sync.send(runtime_end, {"ack": "seccomp-listener"}, fds=[reply_w])

    thread = threading.Thread(target=runtime)
    thread.start()
    try:
        returned = ctx.call_parent("seccomp-listener", fds=[r], path="/run/a.sock")
        thread.join()
        assert received["call"] == "seccomp-listener"
        assert received["args"] == {"path": "/run/a.sock"}
        assert len(received["fds"]) == 1
        assert len(returned) == 1     # the fds of the ack are the caller's
        os.write(returned[0], b"x")
        assert os.read(reply_r, 1) == b"x"
    finally:
        for fd in (r, w, reply_r, reply_w, *received.get("fds", []), *returned):
            os.close(fd)
        init_end.close()
        runtime_end.close()


def test_run_call_runs_the_handler_with_the_fds_and_closes_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(ops, "send_to_listener", lambda pctx, args: seen.append((pctx, args)))
    pctx = ParentContext("c1", "/b", "/s", init_pid=1)
    r, w = os.pipe()
    os.close(w)
    _run_call(pctx, {"call": "seccomp-listener", "args": {"path": "/p"}, "fds": [r]},
              {"seccomp-listener": "limpet.plugins.seccomp.ops:send_to_listener"})
    assert seen == [(pctx, {"path": "/p", "fds": [r], "reply_fds": [], "where": None})]
    with pytest.raises(OSError):
        os.fstat(r)


def test_run_call_returns_the_fds_the_handler_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the ack: an id-mapped mount's tree travels back this way."""
    made: list[int] = []

    def handler(pctx: Any, args: dict[str, Any]) -> None:
        made.extend(os.pipe())
        args["reply_fds"].extend(made)

    monkeypatch.setattr(ops, "send_to_listener", handler)
    pctx = ParentContext("c1", "/b", "/s", init_pid=1)
    reply = _run_call(pctx, {"call": "seccomp-listener", "args": {}},
                      {"seccomp-listener": "limpet.plugins.seccomp.ops:send_to_listener"})
    try:
        assert reply == made and len(reply) == 2
    finally:
        for fd in reply:
            os.close(fd)


def test_run_call_closes_the_reply_fds_when_the_handler_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []

    def handler(pctx: Any, args: dict[str, Any]) -> None:
        made.extend(os.pipe())
        args["reply_fds"].extend(made)
        raise ExecutionError("mounts[7]", "refused")

    monkeypatch.setattr(ops, "send_to_listener", handler)
    pctx = ParentContext("c1", "/b", "/s", init_pid=1)
    with pytest.raises(ExecutionError):
        _run_call(pctx, {"call": "seccomp-listener", "args": {}},
                  {"seccomp-listener": "limpet.plugins.seccomp.ops:send_to_listener"})
    for fd in made:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_run_call_refuses_an_unknown_kind() -> None:
    pctx = ParentContext("c1", "/b", "/s", init_pid=1)
    with pytest.raises(ExecutionError, match="unknown op kind 'nope'"):
        _run_call(pctx, {"call": "nope", "args": {}}, {})
