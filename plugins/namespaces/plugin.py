"""The namespaces plugin: linux.namespaces, uid/gid mappings, time offsets, hostname and
domainname (config-linux.md#namespaces, #user-namespace-mappings, #offset-for-time-namespace;
config.md#hostname, #domainname)."""

from __future__ import annotations

import os

from limpet.core.errors import SpecError
from limpet.core.idmaps import as_maps
from limpet.core.pluginapi import PluginInfo, hookimpl

from .kinds import NAMESPACES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OPS = "limpet.plugins.namespaces.ops"


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="namespaces",
        version="0.1.0",
        claims=("linux.namespaces", "linux.uidMappings", "linux.gidMappings",
                "linux.timeOffsets", "hostname", "domainname"),
        features={"linux": {"namespaces": list(NAMESPACES)}},
        description="create or join namespaces; id maps; hostname",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {
        "join-namespaces": f"{OPS}:join",
        "unshare": f"{OPS}:unshare",
        "become-root": f"{OPS}:become_root",
        "write-id-maps": f"{OPS}:write_id_maps",
        "sethostname": f"{OPS}:set_hostname",
        "setdomainname": f"{OPS}:set_domainname",
        "loopback-up": f"{OPS}:loopback_up",
    }


def _namespaces(spec: Any) -> list[Any]:
    return list(spec.linux.namespaces or []) if spec.linux else []


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    seen: dict[str, int] = {}
    namespaces = _namespaces(spec)
    for i, ns in enumerate(namespaces):
        where = f"linux.namespaces[{i}]"
        if ns.type in seen:
            raise SpecError(f"{where}.type", f'duplicate namespace "{ns.type}" (also at '
                            f"linux.namespaces[{seen[ns.type]}])")
        seen[ns.type] = i
        if ns.type not in ctx.host.namespaces:
            raise SpecError(f"{where}.type", f'the kernel does not support "{ns.type}" '
                            "namespaces")
        if ns.path is not None:
            if not os.path.isabs(ns.path):
                raise SpecError(f"{where}.path", f"{ns.path!r} must be an absolute path")
            if not os.path.exists(ns.path):
                raise SpecError(f"{where}.path", f"{ns.path}: no such file or directory")
    by_type = {ns.type: ns for ns in namespaces}
    linux = spec.linux
    user = by_type.get("user")
    has_maps = bool(linux and (linux.uid_mappings or linux.gid_mappings))
    if has_maps and (user is None or user.path is not None):
        raise SpecError("linux.uidMappings", "id mappings need a new user namespace "
                        "(add {\"type\": \"user\"} to linux.namespaces)")
    if user is not None and user.path is None and not (linux.uid_mappings and
                                                       linux.gid_mappings):
        raise SpecError("linux.namespaces", "a new user namespace needs both "
                        "linux.uidMappings and linux.gidMappings")
    if linux and linux.time_offsets:
        time_ns = by_type.get("time")
        if time_ns is None or time_ns.path is not None:
            raise SpecError("linux.timeOffsets", "time offsets need a new time namespace")
    for field in ("hostname", "domainname"):
        if getattr(spec, field) and "uts" not in by_type:
            raise SpecError(field, f"setting the {field} needs a UTS namespace "
                            "(add {\"type\": \"uts\"} to linux.namespaces)")


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    namespaces = _namespaces(spec)
    joins = [{"type": ns.type, "path": ns.path, "where": f"linux.namespaces[{i}].path"}
             for i, ns in enumerate(namespaces) if ns.path is not None]
    new = [ns.type for ns in namespaces if ns.path is None]
    user_join = [j for j in joins if j["type"] == "user"]
    if user_join:
        plan.add("user-namespace", "join-namespaces", "linux.namespaces", join=user_join)
    elif "user" in new:
        plan.add("user-namespace", "unshare", "linux.namespaces", types=["user"])
        plan.add("id-maps", "write-id-maps", "linux.uidMappings",
                 uid=as_maps(spec.linux.uid_mappings), gid=as_maps(spec.linux.gid_mappings))
        plan.add("namespaces", "become-root", "linux.uidMappings")
    others = [j for j in joins if j["type"] != "user"]
    if others:
        plan.add("namespaces", "join-namespaces", "linux.namespaces", join=others)
    rest = [t for t in new if t != "user"]
    if rest:
        offsets = None
        if spec.linux.time_offsets:
            offsets = {clock: {"secs": o.secs or 0, "nanosecs": o.nanosecs or 0}
                       for clock, o in (("boottime", spec.linux.time_offsets.boottime),
                                        ("monotonic", spec.linux.time_offsets.monotonic))
                       if o is not None}
        plan.add("namespaces", "unshare", "linux.namespaces", types=rest, time_offsets=offsets)
    if "network" in rest:
        plan.add("process", "loopback-up", "linux.namespaces")
    if spec.hostname:
        plan.add("process", "sethostname", "hostname", name=spec.hostname)
    if spec.domainname:
        plan.add("process", "setdomainname", "domainname", name=spec.domainname)


#: The order runc's exec joins a container's namespaces in (after the user namespace); the
#: mount namespace late, so that every /proc path was opened before it changes.
EXEC_ORDER = ("ipc", "uts", "network", "pid", "mount", "cgroup", "time")


def _same_namespace(path: str, ns_file: str) -> bool:
    try:
        theirs, ours = os.stat(path), os.stat(f"/proc/self/ns/{ns_file}")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


@hookimpl
def limpet_plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
    """``exec``: join every namespace the container has (made or joined at create), by
    /proc/PID/ns of its init; the user namespace first. One the runtime is in already
    (e.g. the container shares the host's) is not joined again."""
    types = {ns.type for ns in _namespaces(spec)}
    joins = []
    for ns_type in ("user", *EXEC_ORDER):
        if ns_type not in types:
            continue
        ns_file = NAMESPACES[ns_type][1]
        path = f"/proc/{ctx.pid}/ns/{ns_file}"
        if not _same_namespace(path, ns_file):
            joins.append({"type": ns_type, "path": path, "where": "linux.namespaces"})
    user = [j for j in joins if j["type"] == "user"]
    if user:
        plan.add("user-namespace", "join-namespaces", "linux.namespaces", join=user)
    others = [j for j in joins if j["type"] != "user"]
    if others:
        plan.add("namespaces", "join-namespaces", "linux.namespaces", join=others)
