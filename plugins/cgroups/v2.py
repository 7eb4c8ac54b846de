"""The cgroup v2 backend (unified hierarchy, cgroupfs): one directory (lean).

On a pure v2 host the hierarchy is ``/sys/fs/cgroup``; on a hybrid host it is whatever
cgroup2 mount exists (``/sys/fs/cgroup/unified``, usually without the controllers that are
bound to v1 there: asking for them is a clear error at validation).
Controllers are enabled top-down in each ancestor's ``cgroup.subtree_control``
(Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling"); on a hybrid host the
root of the cgroup2 mount is left as it is (the host's, not limpet's).
Device rules are a BPF program (:mod:`.bpf_devices`), planned as a ``cgroup-devices`` op.
"""

from __future__ import annotations

import os

from limpet.core.errors import ExecutionError, LimpetError, SpecError

from . import cgfs, paths
from .base import CgroupDir, Setting
from .controllers import needed
from .host import DEFAULT_ROOT, MOUNTINFO, PROC_CGROUP, Mount, read_mounts, read_own

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class V2:
    """cgroup v2: ``mount`` is the cgroup2 mount used, ``own`` the runtime's cgroup."""

    name = "v2"

    def __init__(self, mount: Mount, own: str, hybrid: bool = False) -> None:
        self.mount = mount
        self.own = own
        #: v1 controllers are mounted too: the cgroup2 root is the host's to configure
        self.hybrid = hybrid

    @classmethod
    def from_host(cls, mountinfo: str = MOUNTINFO, proc_cgroup: str = PROC_CGROUP,
                  root: str = DEFAULT_ROOT) -> V2:
        every = read_mounts(mountinfo)
        mounts = [m for m in every if m.fstype == "cgroup2"]
        if not mounts:
            raise ExecutionError(paths.WHERE, "no cgroup2 filesystem is mounted on this host")
        mount = next((m for m in mounts if m.mountpoint == root), mounts[0])
        hybrid = any(m.fstype == "cgroup" and m.controllers for m in every)
        return cls(mount, read_own(proc_cgroup).get(frozenset(), "/"), hybrid)

    def controllers(self) -> set[str]:
        """Those a child of the mount's root can use (on a hybrid host, only those the host
        enabled in the root's subtree_control: limpet leaves the root alone there)."""
        name = "cgroup.subtree_control" if self.hybrid else "cgroup.controllers"
        try:
            return set(cgfs.read(os.path.join(self.mount.mountpoint, name)).split())
        except LimpetError:
            return set()

    def locate(self, cgroup: paths.CgroupPath) -> list[CgroupDir]:
        target = paths.under(self.own, cgroup)
        return [CgroupDir("", paths.host_dir(self.mount.mountpoint, self.mount.root, target),
                          self.mount.mountpoint, tuple(sorted(self.controllers())))]

    def settings(self, resources: Any, update: bool = False) -> list[Setting]:
        out: list[Setting] = []
        for module in needed(resources):
            out += module.v2(resources)
        return out

    def check(self, settings: list[Setting]) -> None:
        available = self.controllers()
        for setting in settings:
            if setting.controller not in available and setting.controller != "cgroup":
                raise SpecError(setting.where, f"the {setting.controller} controller is not "
                                "available in the cgroup v2 hierarchy at "
                                f"{self.mount.mountpoint} (it offers: "
                                f"{' '.join(sorted(available)) or 'none'})")

    def file_for(self, dirs: list[CgroupDir], setting: Setting) -> str:
        return os.path.join(dirs[0].path, setting.file)


def create(dirs: list[dict[str, Any]], where: str | None, created: list[str],
           enable_root: bool = True) -> None:
    """mkdir the container's cgroup level by level (appending new directories to ``created``),
    enabling every available controller in each ancestor's subtree_control before
    descending, from the hierarchy's root down (runc does the same). Enabling failures are
    left to the settings' writes: a missing file names the setting."""
    for d in dirs:
        chain = cgfs.levels(d["mount"], d["path"])
        for level in chain[:-1]:
            if level != chain[0] and cgfs.make_one(level, where):
                created.append(level)
            if level != chain[0] or enable_root:
                _enable(level, where)
        if cgfs.make_one(chain[-1], where):
            created.append(d["path"])


def _enable(level: str, where: str | None) -> None:
    try:
        wanted = cgfs.read(os.path.join(level, "cgroup.controllers"), where).split()
    except ExecutionError:
        return
    if not wanted:
        return
    control = os.path.join(level, "cgroup.subtree_control")
    try:
        cgfs.write(control, " ".join(f"+{c}" for c in wanted), where)
    except ExecutionError:
        for controller in wanted:
            try:
                cgfs.write(control, f"+{controller}", where)
            except ExecutionError:
                pass
