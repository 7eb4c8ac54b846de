"""The mounts plugin: root, mounts[], rootfs propagation, pivot_root, masked and read-only
paths (config.md#root, #mounts; config-linux.md#rootfs-mount-propagation, #masked-paths,
#readonly-paths)."""

from __future__ import annotations

import os

from limpet.core.errors import SpecError
from limpet.core.idmaps import as_maps
from limpet.core.pluginapi import PluginInfo, hookimpl
from limpet.core.spec import namespace

from .flags import FLAGS, PROPAGATION, RECURSIVE, SPECIAL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OPS = "limpet.plugins.mounts.ops"
FILESYSTEMS = ("proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "bind",
               "overlay", "ramfs", "hugetlbfs", "securityfs", "debugfs", "fusectl", "none",
               "configfs", "binfmt_misc", "bpf", "tracefs", "nfs", "ext4", "xfs", "btrfs")
ROOTFS_PROPAGATION = {"private": "MS_PRIVATE", "rprivate": "MS_PRIVATE",
                      "slave": "MS_SLAVE", "rslave": "MS_SLAVE",
                      "shared": "MS_SHARED", "rshared": "MS_SHARED",
                      "unbindable": "MS_UNBINDABLE", "runbindable": "MS_UNBINDABLE"}


@hookimpl
def limpet_declare() -> PluginInfo:
    return PluginInfo(
        name="mounts",
        version="0.1.0",
        claims=("root", "mounts", "linux.rootfsPropagation", "linux.maskedPaths",
                "linux.readonlyPaths"),
        features={"mountOptions": sorted([*FLAGS, *PROPAGATION, *RECURSIVE, *SPECIAL]),
                  "linux": {"mountExtensions": {"idmap": {"enabled": True}}}},
        options="limpet.plugins.mounts.options:MountsOptions",
        description="root filesystem, mounts, pivot_root, masked and read-only paths",
    )


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    return {
        "rootfs-propagation": f"{OPS}:rootfs_propagation",
        "bind-rootfs": f"{OPS}:bind_rootfs",
        "mount": f"{OPS}:mount",
        "idmapped-tree": "limpet.plugins.mounts.idmap:idmapped_tree",
        "pivot-root": f"{OPS}:pivot_root",
        "mask-paths": f"{OPS}:mask_paths",
        "readonly-paths": f"{OPS}:readonly_paths",
        "readonly-root": f"{OPS}:readonly_root",
    }


def rootfs_path(spec: Any, bundle: str) -> str:
    path = spec.root.path
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(bundle, path))


def _has_new_namespace(spec: Any, kind: str) -> bool:
    entry = namespace(spec, kind)
    return entry is not None and entry.path is None


def _validate_idmap(spec: Any, ctx: Any, m: Any, where: str, is_bind: bool) -> None:
    """config.md#mounts uidMappings/gidMappings and the idmap/ridmap options (runc's rules:
    bind mounts only; without mappings, the container's user namespace gives them)."""
    options = m.options or []
    if bool(m.uid_mappings) != bool(m.gid_mappings):
        given, missing = (("uidMappings", "gidMappings") if m.uid_mappings
                          else ("gidMappings", "uidMappings"))
        raise SpecError(f"{where}.{missing}", f"an id-mapped mount needs both uidMappings "
                        f"and gidMappings; only {given} is given")
    for field, alias in (("uid_mappings", "uidMappings"), ("gid_mappings", "gidMappings")):
        for k, mapping in enumerate(getattr(m, field) or []):
            if mapping.size < 1:
                raise SpecError(f"{where}.{alias}[{k}].size", "must be at least 1")
    asked = [j for j, option in enumerate(options) if option in ("idmap", "ridmap")]
    if not (m.uid_mappings or asked):
        return
    at = f"{where}.options[{asked[0]}]" if asked else f"{where}.uidMappings"
    if not is_bind:
        raise SpecError(at, "id-mapped mounts are supported for bind mounts only (add "
                        "\"bind\" or \"rbind\" to the options)")
    if ctx.host.rootless:
        raise SpecError(at, "id-mapped mounts are not supported for rootless containers: "
                        "mapping a mount needs CAP_SYS_ADMIN in the host's user namespace "
                        "(as in runc)")
    if not m.uid_mappings and namespace(spec, "user") is None:
        raise SpecError(f"{where}.options[{asked[0]}]", f"{options[asked[0]]!r} without "
                        "uidMappings and gidMappings takes the container's user namespace "
                        "mapping, and the container has no user namespace")


@hookimpl
def limpet_validate(spec: Any, ctx: Any) -> None:
    if spec.root is None:
        raise SpecError("root", "a root filesystem is required (root.path)")
    rootfs = rootfs_path(spec, ctx.bundle)
    if not os.path.isdir(rootfs):
        raise SpecError("root.path", f"{rootfs}: no such directory (the rootfs must exist)")
    if not _has_new_namespace(spec, "mount"):
        raise SpecError("linux.namespaces", "a new mount namespace is required: limpet never "
                        "mounts in the host's namespace (add {\"type\": \"mount\"})")
    for i, m in enumerate(spec.mounts or []):
        where = f"mounts[{i}]"
        if not os.path.isabs(m.destination):
            raise SpecError(f"{where}.destination", f"{m.destination!r} must be an absolute "
                            "path inside the container")
        if ".." in m.destination.split("/"):
            raise SpecError(f"{where}.destination", f"{m.destination!r} must not contain '..'")
        options = m.options or []
        is_bind = m.type == "bind" or "bind" in options or "rbind" in options
        _validate_idmap(spec, ctx, m, where, is_bind)
        if is_bind:
            if not m.source:
                raise SpecError(f"{where}.source", "a bind mount needs a source")
            source = m.source if os.path.isabs(m.source) else os.path.join(ctx.bundle, m.source)
            if not os.path.exists(source):
                raise SpecError(f"{where}.source", f"{source}: no such file or directory")
        elif not m.type:
            raise SpecError(f"{where}.type", "a mount that is not a bind mount needs a type")
    propagation = spec.linux.rootfs_propagation if spec.linux else None
    if propagation and propagation not in ROOTFS_PROPAGATION:
        raise SpecError("linux.rootfsPropagation", f"unknown propagation {propagation!r}; "
                        f"expected one of {', '.join(ROOTFS_PROPAGATION)}")


@hookimpl
def limpet_plan(spec: Any, plan: Any, ctx: Any) -> None:
    options = ctx.options_set("mounts")
    symlinks = options.symlinks if options is not None else "beneath"   # MountsOptions' default
    rootfs = rootfs_path(spec, ctx.bundle)
    plan.process["rootfs"] = rootfs
    linux = spec.linux
    propagation = linux.rootfs_propagation if linux else None
    flag = ROOTFS_PROPAGATION.get(propagation or "", "MS_SLAVE")
    # The host's "/" must never see our mounts: slave (or private) before anything else.
    plan.add("rootfs", "rootfs-propagation", "linux.rootfsPropagation",
             flag="MS_PRIVATE" if flag == "MS_SHARED" else flag)
    plan.add("rootfs", "bind-rootfs", "root.path", rootfs=rootfs)
    for i, m in enumerate(spec.mounts or []):
        source = m.source
        opts = m.options or []
        is_bind = m.type == "bind" or "bind" in opts or "rbind" in opts
        if is_bind and source and not os.path.isabs(source):
            source = os.path.join(ctx.bundle, source)
        extra: dict[str, Any] = {}
        if m.type == "cgroup":
            extra["cgroupns"] = _has_new_namespace(spec, "cgroup")
        if is_bind and (m.uid_mappings or "idmap" in opts or "ridmap" in opts):
            extra["idmap"] = {"recursive": "ridmap" in opts, "uid": as_maps(m.uid_mappings),
                              "gid": as_maps(m.gid_mappings)}
        plan.add("mounts", "mount", f"mounts[{i}]", destination=m.destination, type=m.type,
                 source=source, options=opts, symlinks=symlinks, **extra)
    plan.add("pivot", "pivot-root", "root", no_pivot=ctx.no_pivot,
             propagation=flag if propagation else None)
    if linux and linux.masked_paths:
        plan.add("finalize-rootfs", "mask-paths", "linux.maskedPaths",
                 paths=list(linux.masked_paths))
    if linux and linux.readonly_paths:
        plan.add("finalize-rootfs", "readonly-paths", "linux.readonlyPaths",
                 paths=list(linux.readonly_paths))
    if spec.root.readonly:
        plan.add("finalize-rootfs", "readonly-root", "root.readonly")
