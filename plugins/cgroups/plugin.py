"""The cgroups plugin: linux.cgroupsPath and linux.resources (config-linux.md#control-groups,
#cgroups-path, #allowed-device-list, #memory, #cpu, #block-io, #huge-page-limits, #network,
#pids, #rdma, #unified).

Backends (area ``cgroups``): ``v1`` and ``v2`` (cgroupfs); config.yaml may pick one
(``backends: {cgroups: v1}``), otherwise the host decides (:func:`.host.detect`). A
``systemd`` backend is declared unavailable, with the reason, so that choosing it fails
clearly (no systemd driver, and no systemd on the hosts limpet targets yet).

Fail closed: a field the chosen backend cannot apply is an error naming its path (a v1-only
field on v2, a controller the host lacks, a page size it does not offer), never silently
ignored. A field whose value asks for nothing (null, false, [], {}, and 0 where runc reads 0
as "not set") is accepted.
"""

from __future__ import annotations

import os

from limpet.core.errors import SpecError
from limpet.core.pluginapi import Backend, PluginInfo, hookimpl
from limpet.core.specbase import Node, fields

from . import controllers, devices, host, paths
from .base import NO_RESOURCES
from .v1 import V1
from .v2 import V2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .base import Driver

NAME = "cgroups"
OPS = "limpet.plugins.cgroups.ops"
WHERE = "linux.resources"
#: Fields whose 0 runc reads as "not set" (docker sends some of them).
ZERO_IS_UNSET = frozenset({
    "blockIO.weight", "blockIO.leafWeight", "memory.kernel", "memory.kernelTCP",
    "cpu.realtimeRuntime", "cpu.realtimePeriod", "cpu.burst", "cpu.idle",
})
SYSTEMD_PROBE = "/run/systemd/system"


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="0.1.0",
        claims=("linux.cgroupsPath", "linux.resources"),
        features={"linux": {"cgroup": {"v1": True, "v2": True, "systemd": False,
                                       "systemdUser": False, "rdma": True}}},
        options="limpet.plugins.cgroups.options:Options",
        description="cgroupfs v1/v2: cgroupsPath and every linux.resources field; pause, "
                    "update, stats",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {
        "cgroup-create": f"{OPS}:create",
        "cgroup-write": f"{OPS}:write",
        "cgroup-devices": f"{OPS}:device_filter",
        "cgroup-attach": f"{OPS}:attach",
        "cgroup-remove": f"{OPS}:remove",
    }


@hookimpl
def limpet_backends() -> list[Backend]:
    return [
        Backend("cgroups", "v1", V1.from_host, "cgroup v1 cgroupfs (legacy and hybrid hosts)"),
        Backend("cgroups", "v2", V2.from_host, "cgroup v2 cgroupfs (unified hierarchy)"),
        Backend("cgroups", "systemd", _no_systemd, "cgroups through systemd (unavailable)",
                unavailable=systemd_unavailable()),
    ]


def systemd_unavailable() -> str:
    """Why the systemd backend cannot be used."""
    running = os.path.isdir(SYSTEMD_PROBE)
    return ("limpet has no systemd cgroup driver (not implemented: only cgroupfs, backends "
            "v1 and v2)" + ("" if running else f", and this host runs no systemd "
                            f"({SYSTEMD_PROBE} is absent)"))


def _no_systemd() -> Driver:
    raise SpecError("linux.cgroupsPath", f"the systemd cgroup backend is unavailable: "
                    f"{systemd_unavailable()}")


def driver_for(ctx: Any) -> Driver:
    """The backend chosen in config.yaml, else the one that fits the host."""
    backend = (ctx.backends or {}).get("cgroups")
    if backend is not None:
        driver: Driver = backend.factory()
        return driver
    return V2.from_host() if host.detect() == "v2" else V1.from_host()


def _resources(spec: Any) -> Any:
    linux = spec.linux
    if linux is not None and linux.resources is not None:
        return linux.resources
    return NO_RESOURCES


def _asks_nothing(value: Any, path: str) -> bool:
    if value is None or value is False or value == [] or value == {}:
        return True
    if value == 0 and not isinstance(value, bool) and path in ZERO_IS_UNSET:
        return True
    if isinstance(value, Node):
        return all(_asks_nothing(getattr(value, name), f"{path}.{alias}")
                   for name, alias in fields(value))
    return False


def unsupported(resources: Any) -> str | None:
    """The path of the first field of ``linux.resources`` asking for something this plugin
    does not apply yet."""
    for name, key in fields(resources):
        value = getattr(resources, name)
        if _asks_nothing(value, key):
            continue
        allowed = controllers.supported(key)
        if allowed is None:
            continue
        if not allowed:
            return f"{WHERE}.{key}"
        for sub, sub_key in fields(value):
            if sub_key not in allowed and not _asks_nothing(getattr(value, sub),
                                                            f"{key}.{sub_key}"):
                return f"{WHERE}.{key}.{sub_key}"
    return None


def _wanted(spec: Any, ctx: Any) -> bool:
    """A rootless container gets a cgroup only when it names one or sets a limit (runc
    ignores the cgroup errors of rootless containers that set none). An empty
    ``resources``, as rootless podman sends on cgroup v1, sets none."""
    if not ctx.host.rootless:
        return True
    linux = spec.linux
    return bool(linux and (linux.cgroups_path or _sets_something(linux.resources)))


def _sets_something(value: Any) -> bool:
    """Whether a spec value holds any setting (an object whose fields are all unset, or
    an empty list or object, holds none)."""
    if value is None:
        return False
    fields = getattr(value, "_fields", None)
    if fields is not None:
        return any(_sets_something(getattr(value, name)) for name, _, _, _ in fields)
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def _cgroup(spec: Any, ctx: Any) -> paths.CgroupPath:
    options = ctx.options_set(NAME) if hasattr(ctx, "options_set") else None
    parent = options.parent if options is not None else paths.DEFAULT_PARENT
    value = spec.linux.cgroups_path if spec.linux is not None else None
    return paths.parse(value, ctx.container_id, parent)


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    if not _wanted(spec, ctx):
        return
    _cgroup(spec, ctx)
    resources = _resources(spec)
    bad = unsupported(resources) if resources is not NO_RESOURCES else None
    if bad:
        raise SpecError(bad, "not supported yet by the cgroups plugin")
    for module in controllers.needed(resources):
        module.validate(resources)
    driver = driver_for(ctx)
    driver.check(driver.settings(resources))


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    if not _wanted(spec, ctx):
        return
    from limpet.core.spec import dump

    driver = driver_for(ctx)
    cgroup = _cgroup(spec, ctx)
    dirs = driver.locate(cgroup)
    resources = _resources(spec)
    where = paths.WHERE
    extra: dict[str, Any] = {}
    if getattr(driver, "hybrid", False):
        extra["enableRoot"] = False
    plan.add("prepare", "cgroup-create", where, driver=driver.name, cgroup=str(cgroup),
             cgroups=[d.to_json() for d in dirs],
             resources=dump(resources) if resources is not NO_RESOURCES else {}, **extra)
    for setting in driver.settings(resources):
        args: dict[str, Any] = {"file": driver.file_for(dirs, setting), "value": setting.value}
        if setting.hint:
            args["hint"] = setting.hint
        if setting.alternatives:
            args["alternatives"] = [list(a) for a in setting.alternatives]
        if setting.verify:
            args["verify"] = True
        if setting.usage:
            args["usage"] = setting.usage
        plan.add("prepare", "cgroup-write", setting.where, **args)
    if driver.name == "v2" and (resources.devices or not ctx.host.rootless):
        plan.add("prepare", "cgroup-devices", devices.WHERE, path=dirs[0].path,
                 rules=[str(rule) for _, rule in devices.rules(resources)])
    plan.add("prepare", "cgroup-attach", where, cgroups=[d.path for d in dirs])


@hookimpl
def limpet_plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
    """``exec``: move the exec init into the container's cgroups (those recorded at create)
    before it joins any namespace, so that its cgroup namespace is the container's."""
    files = ctx.facts.get("procsFiles")
    if files:
        plan.add("join-cgroups", "cgroup-attach", paths.WHERE,
                 cgroups=[os.path.dirname(f) for f in files])
