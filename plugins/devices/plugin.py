"""The devices plugin: the default devices and linux.devices (config-linux.md#devices,
#default-devices). Device cgroup rules (linux.resources.devices) belong to cgroups."""

from __future__ import annotations

import os

from limpet.core.errors import SpecError
from limpet.core.pluginapi import PluginInfo, hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OPS = "limpet.plugins.devices.ops"
#: config-linux.md#default-devices: path -> (type, major, minor)
DEFAULT_DEVICES = {
    "/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
    "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0),
}
LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
         "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(name="devices", version="0.1.0", claims=("linux.devices",),
                      description="default /dev nodes and links; linux.devices")


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {"create-device": f"{OPS}:create_device", "dev-links": f"{OPS}:dev_links"}


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    seen: dict[str, int] = {}
    for i, dev in enumerate((spec.linux.devices or []) if spec.linux else []):
        where = f"linux.devices[{i}]"
        if not os.path.isabs(dev.path) or ".." in dev.path.split("/"):
            raise SpecError(f"{where}.path", f"{dev.path!r} must be an absolute path without "
                            "'..'")
        if dev.path in seen:
            raise SpecError(f"{where}.path", f"{dev.path} is also linux.devices[{seen[dev.path]}]")
        seen[dev.path] = i
        if dev.type != "p" and (dev.major is None or dev.minor is None):
            raise SpecError(where, f"a {dev.type!r} device needs major and minor numbers")
        if dev.file_mode is not None and dev.file_mode & ~0o7777:
            raise SpecError(f"{where}.fileMode", "only permission bits are allowed "
                            f"(got {oct(dev.file_mode)})")


def _binds_host_dev(spec: Any) -> bool:
    """A bind mount at /dev brings its own nodes: creating ours would touch the source (runc's
    needsSetupDev)."""
    return any(m.destination.rstrip("/") == "/dev" and
               (m.type == "bind" or {"bind", "rbind"} & set(m.options or []))
               for m in spec.mounts or [])


def _plan_configured(spec: Any, plan: Any) -> None:
    for i, dev in enumerate((spec.linux.devices or []) if spec.linux else []):
        plan.add("devices", "create-device", f"linux.devices[{i}]", path=dev.path,
                 type=dev.type, major=dev.major, minor=dev.minor, fileMode=dev.file_mode,
                 uid=dev.uid, gid=dev.gid)


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    if _binds_host_dev(spec):
        _plan_configured(spec, plan)
        return
    mounted = {m.destination.rstrip("/") for m in spec.mounts or []}
    configured = {d.path for d in ((spec.linux.devices or []) if spec.linux else [])}
    for path, (major, minor) in DEFAULT_DEVICES.items():
        if path not in mounted and path not in configured:
            plan.add("devices", "create-device", "linux.devices (default devices)", path=path,
                     type="c", major=major, minor=minor, fileMode=0o666, uid=0, gid=0)
    _plan_configured(spec, plan)
    links = {k: v for k, v in LINKS.items() if f"/dev/{k}" not in mounted | configured}
    plan.add("devices", "dev-links", "linux.devices (default links)", links=links)
