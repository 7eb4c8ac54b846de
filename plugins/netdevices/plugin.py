"""The netdevices plugin: linux.netDevices (config-linux.md#network-devices). Named host
network devices are moved into the container's network namespace, renamed, with their
permanent global addresses, and set up (:mod:`.ops`, runtime side)."""

from __future__ import annotations

import _socket

from limpet.core.errors import SpecError
from limpet.core.pluginapi import PluginInfo, hookimpl
from limpet.core.spec import namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.netDevices"
IFNAMSIZ = 16


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="netdevices",
        version="0.1.0",
        claims=(WHERE,),
        features={"linux": {"netDevices": {"enabled": True}}},
        description="network devices moved into the container's network namespace",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {"move-net-devices": "limpet.plugins.netdevices.ops:move_devices"}


def name_problem(name: str, template: bool) -> str | None:
    """Why the kernel would refuse ``name`` as a device name (dev_valid_name(), and
    dev_alloc_name()'s single ``%d``), or None."""
    if not name or name in (".", ".."):
        return f"{name!r} is not a valid network device name"
    if len(name.encode()) >= IFNAMSIZ:
        return f"{name!r} is longer than {IFNAMSIZ - 1} bytes"
    if any(c == "/" or c == ":" or c.isspace() for c in name):
        return f"{name!r} must not contain '/', ':' or white space"
    if "%" in name:
        at = name.index("%")
        if not template or name[at + 1:at + 2] != "d" or "%" in name[at + 2:]:
            return f"{name!r}: the only '%' allowed is one '%d' (a template the kernel fills)"
    return None


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    devices = spec.linux.net_devices if spec.linux else None
    if not devices:
        return
    if ctx.host.rootless:
        raise SpecError(WHERE, "moving network devices is not supported for rootless "
                        "containers: it needs CAP_NET_ADMIN in the host's network namespace")
    if namespace(spec, "network") is None:
        raise SpecError(WHERE, "moving network devices needs a network namespace: without one "
                        "they would stay in the host's (add {\"type\": \"network\"})")
    taken: dict[str, str] = {}
    for host_name, device in devices.items():
        where = f"{WHERE}.{host_name}"
        problem = name_problem(host_name, template=False)
        if problem:
            raise SpecError(where, problem)
        name = device.name if device.name is not None else host_name
        problem = name_problem(name, template=True)
        if problem:
            raise SpecError(f"{where}.name", problem)
        try:
            _socket.if_nametoindex(host_name)
        except OSError:
            raise SpecError(where, f"no network device {host_name!r} in the runtime's network "
                            "namespace") from None
        if "%" not in name:
            if name in taken:
                raise SpecError(f"{where}.name", f"{name!r} is also the name given to "
                                f"{taken[name]}")
            taken[name] = where


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    devices = spec.linux.net_devices if spec.linux else None
    if not devices:
        return
    plan.add("init-created", "move-net-devices", WHERE, devices=[
        {"host": host_name, "name": device.name if device.name is not None else host_name,
         "where": f"{WHERE}.{host_name}",
         "name_where": f"{WHERE}.{host_name}" + (".name" if device.name is not None else "")}
        for host_name, device in devices.items()])
