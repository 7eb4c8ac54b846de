"""What the compiled BPF does, on the real kernel, without root: a forked child sets
no_new_privs, loads the program the plugin built and reports what its syscalls returned."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from limpet.core.spec import Seccomp
from limpet.core.syscalls import Syscalls, const
from limpet.plugins.seccomp.compiler import compile_profile


def run_filtered(profile: dict[str, Any], probe: Callable[[], Any]) -> tuple[int, Any]:
    """(wait status, what ``probe`` returned) in a child under ``profile``."""
    bpf = compile_profile(Seccomp.model_validate(profile)).bpf
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            Syscalls().prctl(const("PR_SET_NO_NEW_PRIVS"), 1)
            Syscalls().seccomp_filter(bpf)
            os.write(w, json.dumps(probe()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return status, json.loads(data) if data else None


def errno_of(call: Callable[[], Any]) -> int:
    try:
        call()
    except OSError as exc:
        return exc.errno or -1
    return 0


def test_errno_action_returns_eperm_by_default_and_errno_ret_otherwise(tmp_path: Path
                                                                       ) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
    (tmp_path / "d").mkdir()
    _, result = run_filtered(profile, lambda: [errno_of(lambda: os.mkdir(tmp_path / "x")),
                                               errno_of(lambda: os.rmdir(tmp_path / "d")),
                                               errno_of(lambda: os.listdir(tmp_path))])
    assert result == [errno.EPERM, errno.ENOSYS, 0]


def test_default_errno_ret_applies_to_unlisted_syscalls(tmp_path: Path) -> None:
    allowed = ["write", "exit_group", "exit", "brk", "mmap", "munmap", "rt_sigprocmask",
               "rt_sigaction", "getpid"]
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
               "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    _, result = run_filtered(profile, lambda: [errno_of(lambda: os.mkdir(tmp_path / "x")),
                                               os.getpid() > 0])
    assert result == [errno.ENOSYS, True]


def test_argument_filters_match_values() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    _, result = run_filtered(profile, lambda: [
        errno_of(lambda: os.kill(os.getpid(), 0)),
        errno_of(lambda: os.kill(os.getpid(), signal.SIGCONT))])
    assert result == [errno.EPERM, 0]


def test_masked_eq_compares_the_masked_argument() -> None:
    # personality(2): deny setting PER_LINUX32 (8) whatever the flag bits; a query
    # (0xffffffff) has other low bits and passes.
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 0xFF, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    sysc = Syscalls()
    _, result = run_filtered(profile, lambda: [
        errno_of(lambda: sysc.personality(0x0008)),
        errno_of(lambda: sysc.personality(0x0400008)),
        errno_of(lambda: sysc.personality(0xFFFFFFFF))])
    assert result == [errno.EACCES, errno.EACCES, 0]


def test_conditions_on_one_argument_become_separate_rules_as_in_runc() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": int(signal.SIGCONT), "op": "SCMP_CMP_EQ"}]}]}
    _, result = run_filtered(profile, lambda: [
        errno_of(lambda: os.kill(os.getpid(), 0)),
        errno_of(lambda: os.kill(os.getpid(), signal.SIGCONT)),
        errno_of(lambda: os.kill(os.getpid(), signal.SIGWINCH))])
    assert result == [errno.EPERM, errno.EPERM, 0]


def test_conditions_on_different_arguments_must_all_hold() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_GT"},
                  {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    _, result = run_filtered(profile, lambda: [
        errno_of(lambda: os.kill(os.getpid(), 0)),
        errno_of(lambda: os.kill(0, 0)),
        errno_of(lambda: os.kill(os.getpid(), signal.SIGCONT))])
    assert result == [errno.EPERM, 0, 0]


def test_kill_process_ends_the_process_with_sigsys() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    status, result = run_filtered(profile, lambda: os.getppid())
    assert result is None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_kill_and_trap_deliver_sigsys() -> None:
    for action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"):
        profile = {"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["getppid"], "action": action}]}
        status, _ = run_filtered(profile, lambda: os.getppid())
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, action


def test_log_allows_and_trace_without_a_tracer_fails_with_enosys(tmp_path: Path) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
        {"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 1}]}
    _, result = run_filtered(profile, lambda: [os.getppid() > 0,
                                               errno_of(lambda: os.mkdir(tmp_path / "x"))])
    assert result == [True, errno.ENOSYS]
