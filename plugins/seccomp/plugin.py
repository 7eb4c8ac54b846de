"""The seccomp plugin: linux.seccomp (config-linux.md#seccomp).

The runtime process builds the filter with libseccomp and exports it as BPF in
``limpet_plan`` (pure: all in memory); the container's init only loads the program, last
before "created", in runc's order (see ops.py). SCMP_ACT_NOTIFY rules get a listener: the
notify fd and the container process state go to ``listenerPath``.
"""

from __future__ import annotations

import os
from binascii import b2a_base64  # base64 without its import of re

from limpet.core.errors import SpecError
from limpet.core.log import log
from limpet.core.pluginapi import PluginInfo, hookimpl
from limpet.core.state import OCI_VERSION

# cache, compiler and libseccomp are imported by the hooks, for a config with linux.seccomp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PKG = "limpet.plugins.seccomp"
OPS = f"{PKG}.ops"
WHERE = "linux.seccomp"
#: The init hands the notify fd to the runtime with these calls after the filter is loaded;
#: a NOTIFY rule on them would block the init before any listener holds the fd.
SENDING_SYSCALLS = ("sendmsg", "sendto")


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="seccomp",
        version="0.1.0",
        claims=("linux.seccomp",),
        features=f"{PKG}.features:fragment",   # probes libseccomp and the kernel
        description="linux.seccomp: libseccomp filters loaded last, with a notify listener",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {"seccomp-load": f"{OPS}:load_filter",
            "seccomp-listener": f"{OPS}:send_to_listener",
            "seccomp-cache": f"{OPS}:store_cache"}


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    seccomp = spec.linux.seccomp if spec.linux else None
    if seccomp is None:
        return
    from . import compiler

    _check_errno(f"{WHERE}.defaultErrnoRet", seccomp.default_action, seccomp.default_errno_ret)
    if seccomp.default_action == "SCMP_ACT_NOTIFY":
        raise SpecError(f"{WHERE}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default "
                        "action: the runtime's own calls after loading would wait on the "
                        "listener (as runc)")
    for i, rule in enumerate(seccomp.syscalls or []):
        where = f"{WHERE}.syscalls[{i}]"
        _check_errno(f"{where}.errnoRet", rule.action, rule.errno_ret)
        for j, name in enumerate(rule.names):
            if not name:
                raise SpecError(f"{where}.names[{j}]", "empty syscall name")
            if rule.action == "SCMP_ACT_NOTIFY" and name in SENDING_SYSCALLS:
                raise SpecError(f"{where}.names[{j}]", f"SCMP_ACT_NOTIFY cannot be used for "
                                f"{name}: the init sends the notify fd to the runtime with it")
        for j, arg in enumerate(rule.args or []):
            if arg.index > 5:
                raise SpecError(f"{where}.args[{j}].index", f"{arg.index}: a syscall has "
                                "at most 6 arguments (0-5)")
    if seccomp.listener_metadata is not None and not seccomp.listener_path:
        raise SpecError(f"{WHERE}.listenerMetadata", "must not be set without listenerPath")
    if compiler.uses_notify(seccomp):
        if not seccomp.listener_path:
            raise SpecError(f"{WHERE}.listenerPath", "SCMP_ACT_NOTIFY rules need a "
                            "listener: set linux.seccomp.listenerPath")
        if not os.path.isabs(seccomp.listener_path):
            raise SpecError(f"{WHERE}.listenerPath",
                            f"{seccomp.listener_path!r} must be an absolute path")
    # libseccomp itself is loaded only to compile (a cache miss: compiler.compile_profile
    # names linux.seccomp if it cannot be loaded), never for a cached program


def _check_errno(where: str, action: str, errno_ret: int | None) -> None:
    if errno_ret is None:
        return
    from . import compiler, libseccomp

    if action not in libseccomp.WITH_ERRNO:
        raise SpecError(where, f"{action} takes no errno (only SCMP_ACT_ERRNO and "
                        "SCMP_ACT_TRACE do)")
    if errno_ret > compiler.MAX_ERRNO:
        raise SpecError(where, f"{errno_ret} is not an errno (0-{compiler.MAX_ERRNO})")


@hookimpl
def limpet_plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
    """``exec``: the container's filter, loaded in the order the exec'd process's
    noNewPrivileges calls for (from the cache create filled)."""
    limpet_plan(spec, plan, ctx)


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    seccomp = spec.linux.seccomp if spec.linux else None
    if seccomp is None:
        return
    from . import cache, compiler

    path = cache.entry_path(ctx.state_dir, seccomp)
    compiled = cache.read(path)
    if compiled is None:
        compiled = compiler.compile_profile(seccomp, WHERE)
        try:
            plan.add("prepare", "seccomp-cache", WHERE, path=path, **cache.entry(compiled))
        except OSError as exc:   # only costs the next create a compile
            log.debug(f"{WHERE}: the compiled filter will not be cached: {exc}")
    for name in compiled.skipped:
        log.debug(f"{WHERE}: syscall {name!r} is unknown to libseccomp: skipped")
    notify = compiler.uses_notify(seccomp)
    listener = None
    if notify:
        listener = {"path": seccomp.listener_path, "metadata": seccomp.listener_metadata,
                    "ociVersion": OCI_VERSION}
    nnp = bool(spec.process and spec.process.no_new_privileges)
    plan.add("seccomp" if nnp else "seccomp-privileged", "seccomp-load", WHERE,
             defaultAction=seccomp.default_action, rules=compiled.rules,
             instructions=compiled.instructions, flags=compiler.load_flags(seccomp, notify),
             listener=listener, bpf=b2a_base64(compiled.bpf, newline=False).decode())
