"""The cgroup v1 backend (cgroupfs): one directory per mounted hierarchy (lean).

The container joins every mounted v1 hierarchy, as runc does (so that freezer, stats and
``kill --all`` work whatever limits were asked), e.g. on this kind of host
``/sys/fs/cgroup/{cpu,cpuacct,cpuset,memory,devices,freezer,blkio,pids,systemd}/<path>``.
On a hybrid host the container also gets its own directory in the cgroup2 mount
(``/sys/fs/cgroup/unified/<path>``, hierarchy ``""``), as runc does: no limits are set there,
but a container with a cgroup namespace then sees itself, not the host, at ``0::/``.
"""

from __future__ import annotations

import os

from limpet.core.errors import SpecError

from . import cgfs, devices, paths
from .base import CgroupDir, Setting
from .controllers import needed
from .host import MOUNTINFO, PROC_CGROUP, Mount, read_mounts, read_own

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class V1:
    """cgroup v1: ``hierarchies`` are the v1 mounts, ``own`` the runtime's cgroups."""

    name = "v1"

    def __init__(self, mounts: list[Mount], own: dict[frozenset[str], str]) -> None:
        self.hierarchies: dict[str, Mount] = {}
        for mount in mounts:
            if mount.fstype == "cgroup" and mount.controllers:
                self.hierarchies.setdefault(mount.key, mount)
        self.unified = next((m for m in mounts if m.fstype == "cgroup2"), None)
        self.own = own

    @classmethod
    def from_host(cls, mountinfo: str = MOUNTINFO, proc_cgroup: str = PROC_CGROUP) -> V1:
        return cls(read_mounts(mountinfo), read_own(proc_cgroup))

    def controllers(self) -> set[str]:
        return {c for m in self.hierarchies.values() for c in m.controllers}

    def locate(self, cgroup: paths.CgroupPath) -> list[CgroupDir]:
        dirs = []
        for key, mount in self.hierarchies.items():
            own = self.own.get(frozenset(mount.controllers), "/")
            target = paths.under(own, cgroup)
            dirs.append(CgroupDir(key, paths.host_dir(mount.mountpoint, mount.root, target),
                                  mount.mountpoint, mount.controllers))
        if self.unified is not None and self.hierarchies:
            target = paths.under(self.own.get(frozenset(), "/"), cgroup)
            dirs.append(CgroupDir("", paths.host_dir(self.unified.mountpoint,
                                                     self.unified.root, target),
                                  self.unified.mountpoint))
        return dirs

    def settings(self, resources: Any, update: bool = False) -> list[Setting]:
        out: list[Setting] = []
        for module in needed(resources):
            if module is devices and (update and resources.devices is None or
                                      "devices" not in self.controllers()
                                      and not resources.devices):
                continue  # only the default rules, and no device controller to take them
            out += module.v1(resources)
        return out

    def check(self, settings: list[Setting]) -> None:
        available = self.controllers()
        for setting in settings:
            if setting.controller not in available:
                hint = None
                if self.unified is not None and setting.controller in self._unified_has():
                    hint = (f"on this hybrid host {setting.controller} is bound to the cgroup "
                            f"v2 hierarchy at {self.unified.mountpoint}, which the v1 backend "
                            "sets no limits in")
                raise SpecError(setting.where, f"the {setting.controller} cgroup v1 "
                                "controller is not mounted on this host", hint=hint)
            if setting.probe:
                mount = self._mount(setting.controller)
                if not os.path.exists(os.path.join(mount.mountpoint, setting.file)):
                    raise SpecError(setting.where, f"{setting.file} does not exist in "
                                    f"{mount.mountpoint}", hint=setting.hint)

    def _unified_has(self) -> set[str]:
        assert self.unified is not None
        try:
            return set(cgfs.read(os.path.join(self.unified.mountpoint,
                                              "cgroup.controllers")).split())
        except Exception:
            return set()

    def _mount(self, controller: str) -> Mount:
        return next(m for m in self.hierarchies.values() if controller in m.controllers)

    def file_for(self, dirs: list[CgroupDir], setting: Setting) -> str:
        directory = next(d for d in dirs if setting.controller in d.controllers)
        return os.path.join(directory.path, setting.file)


def create(dirs: list[dict[str, Any]], where: str | None, created: list[str]) -> None:
    """mkdir the container's cgroup in every hierarchy (appending every new directory to
    ``created``), then fill empty cpuset.cpus/cpuset.mems from the parent, top down: a v1
    cpuset cgroup with empty ones refuses tasks (ENOSPC)."""
    for d in dirs:
        created.extend(cgfs.make(d["mount"], d["path"], where))
    for d in dirs:
        if not _has_cpuset_files(d):
            continue
        chain = cgfs.levels(d["mount"], d["path"])
        for parent, child in zip(chain, chain[1:], strict=False):
            for name in ("cpuset.cpus", "cpuset.mems"):
                target = os.path.join(child, name)
                if not cgfs.read(target, where):
                    cgfs.write(target, cgfs.read(os.path.join(parent, name), where), where)


def _has_cpuset_files(d: dict[str, Any]) -> bool:
    """Whether the hierarchy of ``d`` has cpuset.cpus (a stat only where cpuset is mounted)."""
    controllers = d.get("controllers")
    if not d["hierarchy"] or controllers is not None and "cpuset" not in controllers:
        return False
    return os.path.exists(os.path.join(d["mount"], "cpuset.cpus"))
