"""The process plugin: process args, env, cwd, user, capabilities, rlimits and
noNewPrivileges (config.md#process, #posix-process, #linux-process)."""

from __future__ import annotations

import os
import resource
from typing import Any

from limpet.core.errors import SpecError
from limpet.core.log import log
from limpet.core.pluginapi import PluginInfo, hookimpl

from .ops import CAP_NUMBER, CAPABILITIES, last_cap

OPS = "limpet.plugins.process.ops"
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="process",
        version="0.1.0",
        claims=("process.args", "process.env", "process.cwd", "process.user",
                "process.terminal", "process.consoleSize",
                "process.capabilities", "process.rlimits", "process.noNewPrivileges"),
        features={"linux": {"capabilities": list(CAPABILITIES)}},
        description="the container process: args, env, cwd, user, capabilities, rlimits",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {
        "set-rlimits": f"{OPS}:set_rlimits",
        "set-umask": f"{OPS}:set_umask",
        "prepare-cwd": f"{OPS}:prepare_cwd",
        "set-home": f"{OPS}:set_home",
        "set-credentials": f"{OPS}:set_credentials",
        "no-new-privileges": f"{OPS}:no_new_privileges",
        "setup-terminal": f"{OPS}:setup_terminal",
    }


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    process = spec.process
    if process is None:
        raise SpecError("process", "a process is required to create a container")
    if not process.args:
        raise SpecError("process.args", "at least one argument (the program) is required")
    if not os.path.isabs(process.cwd):
        raise SpecError("process.cwd", f"{process.cwd!r} must be an absolute path")
    if process.terminal and ctx.console is None:
        raise SpecError("process.terminal", "cannot allocate a pseudo-terminal without "
                        "--console-socket when the container is detached (as runc)")
    if ctx.console == "socket" and not process.terminal:
        raise SpecError("process.terminal", "--console-socket was given but the process "
                        "asks for no terminal (terminal: false)")
    for i, entry in enumerate(process.env or []):
        if "=" not in entry:
            raise SpecError(f"process.env[{i}]", f"{entry!r} is not NAME=value")
    caps = process.capabilities
    for cap_set in CAP_SETS:
        for i, name in enumerate(getattr(caps, cap_set, None) or [] if caps else []):
            where = f"process.capabilities.{cap_set}[{i}]"
            if name not in CAP_NUMBER:
                raise SpecError(where, f"unknown capability {name!r}")
            if CAP_NUMBER[name] > last_cap():
                log.warning(f"{where}: {name} is not known to the running kernel; ignored")
    seen: dict[str, int] = {}
    for i, rl in enumerate(process.rlimits or []):
        where = f"process.rlimits[{i}]"
        if not hasattr(resource, rl.type):
            raise SpecError(f"{where}.type", f"unknown rlimit {rl.type!r}")
        if rl.type in seen:
            raise SpecError(f"{where}.type", f"{rl.type} is also process.rlimits[{seen[rl.type]}]")
        seen[rl.type] = i
        if rl.soft > rl.hard:
            raise SpecError(where, f"{rl.type} soft limit {rl.soft} exceeds hard limit {rl.hard}")


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    process = spec.process
    user = process.user
    uid = user.uid if user and user.uid is not None else 0
    gid = user.gid if user and user.gid is not None else 0
    plan.process.update(args=list(process.args), env=list(process.env or []), cwd=process.cwd)
    if process.rlimits:
        plan.add("process", "set-rlimits", "process.rlimits", rlimits=[
            {"type": r.type, "soft": r.soft, "hard": r.hard, "where": f"process.rlimits[{i}]"}
            for i, r in enumerate(process.rlimits)])
    if process.terminal:
        size = process.console_size
        plan.add("process", "setup-terminal", "process.terminal",
                 consoleSize={"height": size.height, "width": size.width} if size else None)
    umask = user.umask if user and user.umask is not None else 0o022
    plan.add("process", "set-umask", "process.user.umask", umask=umask)
    plan.add("process", "prepare-cwd", "process.cwd", cwd=process.cwd)
    plan.add("process", "set-home", "process.env", uid=uid)
    caps = process.capabilities
    plan.add("credentials", "set-credentials", "process.user", uid=uid, gid=gid,
             additionalGids=list(user.additional_gids or []) if user else [],
             cwd=process.cwd,
             capabilities=None if caps is None else
             {s: list(getattr(caps, s) or []) for s in CAP_SETS})
    if process.no_new_privileges:
        plan.add("credentials", "no-new-privileges", "process.noNewPrivileges")
