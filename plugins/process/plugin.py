"""The process plugin: the container process and its security attributes
(config.md#process, #posix-process, #linux-process; config-linux.md#sysctl, #personality,
#memory-policy, #mount-label).

One module per spec area, each with its checks, its plan and its (lean) op handlers:
``ops`` (args, env, cwd, user, capabilities, rlimits, noNewPrivileges, terminal), ``oom``
(oomScoreAdj), ``sysctl``, ``scheduler`` (scheduler, ioPriority), ``personality``,
``mempolicy`` (memoryPolicy), ``affinity`` (execCPUAffinity) and ``lsm`` (apparmorProfile,
selinuxLabel, mountLabel).

The init's last steps, in order: oomScoreAdj (``prepare``, by the runtime), sysctls
(``sysctl``), rlimits, memory policy, umask, cwd (``process``), then in ``credentials``:
scheduler, I/O priority and the LSM exec labels while the init still has its capabilities,
then user and groups, capabilities, no_new_privs, personality; then the exec of the program.
"""

from __future__ import annotations

import os
import sys

from limpet.core.errors import SpecError
from limpet.core.log import log
from limpet.core.pluginapi import PluginInfo, hookimpl

from . import keyring
from .names import CAP_NUMBER, CAPABILITIES, MEMORY_POLICY_MODES, RLIMITS, last_cap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

PKG = "limpet.plugins.process"
OPS = f"{PKG}.ops"
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
#: The plugin's parts and the fields each reads, as (section, attribute): a part is
#: imported only when one of its fields is set (with none set it checks and plans nothing;
#: a unit test holds each part to that).
PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "oom": (("process", "oom_score_adj"),),
    "scheduler": (("process", "scheduler"), ("process", "io_priority")),
    "affinity": (("process", "exec_cpu_affinity"),),
    "lsm": (("process", "apparmor_profile"), ("process", "selinux_label"),
            ("linux", "mount_label")),
    "sysctl": (("linux", "sysctl"),),
    "personality": (("linux", "personality"),),
    "mempolicy": (("linux", "memory_policy"),),
}


def part(spec: Any, name: str) -> ModuleType | None:
    """The part ``name`` (``"sysctl"``), imported now, if ``spec`` sets one of its fields."""
    for section, attr in PARTS[name]:
        holder = getattr(spec, section)
        if holder is not None and getattr(holder, attr) is not None:
            full = f"{PKG}.{name}"
            __import__(full)
            return sys.modules[full]
    return None


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="process",
        version="0.1.0",
        claims=("process.args", "process.env", "process.cwd", "process.user",
                "process.terminal", "process.consoleSize",
                "process.capabilities", "process.rlimits", "process.noNewPrivileges",
                "process.oomScoreAdj", "process.scheduler", "process.ioPriority",
                "process.execCPUAffinity", "process.apparmorProfile", "process.selinuxLabel",
                "linux.sysctl", "linux.personality", "linux.memoryPolicy", "linux.mountLabel"),
        features={"linux": {
            "capabilities": list(CAPABILITIES),
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "memoryPolicy": {"modes": list(MEMORY_POLICY_MODES),
                             "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                                       "MPOL_F_STATIC_NODES"]},
        }},
        description="the container process: args, env, cwd, user, capabilities, rlimits, "
                    "oomScoreAdj, sysctl, scheduler, I/O priority, personality, memory "
                    "policy, AppArmor and SELinux",
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
        "set-oom-score-adj": f"{PKG}.oom:set_oom_score_adj",
        "write-sysctls": f"{PKG}.sysctl:write_sysctls",
        "set-scheduler": f"{PKG}.scheduler:set_scheduler",
        "set-io-priority": f"{PKG}.scheduler:set_io_priority",
        "set-personality": f"{PKG}.personality:set_personality",
        "set-memory-policy": f"{PKG}.mempolicy:set_memory_policy",
        "exec-affinity-initial": f"{PKG}.affinity:set_initial",
        "exec-affinity-final": f"{PKG}.affinity:set_final",
        "apparmor-exec-profile": f"{PKG}.lsm:apparmor_exec_profile",
        "selinux-exec-label": f"{PKG}.lsm:selinux_exec_label",
        "record-session-keyring": f"{PKG}.keyring:record",
        "join-session-keyring": f"{PKG}.keyring:join",
    }


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    validate_process(spec, ctx)
    for name in ("sysctl", "personality", "mempolicy"):
        _check_part(spec, name)


def _check_part(spec: Any, name: str, *checks: str) -> None:
    """Run the checks (default ``validate``) of part ``name`` if ``spec`` sets its fields."""
    module = part(spec, name)
    if module is not None:
        for check in checks or ("validate",):
            getattr(module, check)(spec)


def validate_process(spec: Any, ctx: Any) -> None:
    """The checks of ``process`` (for ``create`` and for ``exec``)."""
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
        if rl.type not in RLIMITS:
            raise SpecError(f"{where}.type", f"unknown rlimit {rl.type!r} (getrlimit(2) "
                            f"defines {', '.join(RLIMITS)})")
        if rl.type in seen:
            raise SpecError(f"{where}.type", f"{rl.type} is also process.rlimits[{seen[rl.type]}]")
        seen[rl.type] = i
        if rl.soft > rl.hard:
            raise SpecError(where, f"{rl.type} soft limit {rl.soft} exceeds hard limit {rl.hard}")
    _check_part(spec, "oom")
    _check_part(spec, "scheduler", "validate_scheduler", "validate_io_priority")
    _check_part(spec, "affinity")
    _check_part(spec, "lsm")


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    plan.process.update(args=list(spec.process.args), env=list(spec.process.env or []),
                        cwd=spec.process.cwd)
    _plan_part(spec, plan, "oom")
    _plan_part(spec, plan, "sysctl")
    keyring.plan(spec, plan, ctx)
    _plan_process(spec, plan, exec_mode=False)
    _plan_part(spec, plan, "personality")


def _plan_part(spec: Any, plan: Any, name: str, function: str = "plan") -> None:
    module = part(spec, name)
    if module is not None:
        getattr(module, function)(spec, plan)


@hookimpl
def limpet_plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
    """``exec``: the process's own attributes, as runc's setns init applies them (no
    sysctl, personality or memory policy: those belong to the container)."""
    validate_process(spec, ctx)
    plan.process.update(args=list(spec.process.args), env=list(spec.process.env or []),
                        cwd=spec.process.cwd)
    _plan_part(spec, plan, "oom")
    _plan_part(spec, plan, "affinity", "plan_exec")
    keyring.plan_exec(spec, plan, ctx)
    _plan_process(spec, plan, exec_mode=True)


def _plan_process(spec: Any, plan: Any, exec_mode: bool) -> None:
    process = spec.process
    user = process.user
    uid = user.uid if user and user.uid is not None else 0
    gid = user.gid if user and user.gid is not None else 0
    if process.rlimits:
        plan.add("process", "set-rlimits", "process.rlimits", rlimits=[
            {"type": r.type, "soft": r.soft, "hard": r.hard, "where": f"process.rlimits[{i}]"}
            for i, r in enumerate(process.rlimits)])
    if not exec_mode:
        _plan_part(spec, plan, "mempolicy")
        _plan_part(spec, plan, "affinity")
    if process.terminal:
        size = process.console_size
        plan.add("process", "setup-terminal", "process.terminal",
                 consoleSize={"height": size.height, "width": size.width} if size else None)
    if not exec_mode or (user and user.umask is not None):
        umask = user.umask if user and user.umask is not None else 0o022
        plan.add("process", "set-umask", "process.user.umask", umask=umask)
    if not exec_mode:   # runc creates a missing cwd for the init only
        plan.add("process", "prepare-cwd", "process.cwd", cwd=process.cwd)
    plan.add("process", "set-home", "process.env", uid=uid)
    # Before the capabilities are applied: these may need CAP_SYS_NICE, CAP_SYS_ADMIN.
    _plan_part(spec, plan, "scheduler")
    _plan_part(spec, plan, "lsm")
    caps = process.capabilities
    plan.add("credentials", "set-credentials", "process.user", uid=uid, gid=gid,
             additionalGids=list(user.additional_gids or []) if user else [],
             cwd=process.cwd,
             capabilities=None if caps is None else
             {s: list(getattr(caps, s) or []) for s in CAP_SETS})
    if process.no_new_privileges:
        plan.add("credentials", "no-new-privileges", "process.noNewPrivileges")
