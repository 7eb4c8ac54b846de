"""The host's cgroup hierarchies and the runtime's own cgroup (lean: standard library).

Read from ``/proc/self/mountinfo`` (proc(5)) and ``/proc/self/cgroup`` (cgroups(7)); both
paths are parameters so that tests can describe a fake cgroupfs under a temporary directory.
:func:`detect` picks the backend for the host: pure cgroup v2 when ``/sys/fs/cgroup`` itself
is a cgroup2 mount, v1 when v1 controllers are mounted (legacy or hybrid hosts).
"""

from __future__ import annotations

from limpet.core.errors import ExecutionError
from limpet.core.record import FrozenRecord

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"
DEFAULT_ROOT = "/sys/fs/cgroup"
#: cgroup v1 controllers (Documentation/admin-guide/cgroup-v1/); "name=..." are named ones.
V1_CONTROLLERS = frozenset({
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
    "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
})


class Mount(FrozenRecord):
    """One cgroup mount: its mount point, its root inside the hierarchy, its controllers
    (v1: controllers and ``name=...``, in mount-option order; v2: empty)."""

    mountpoint: str
    root: str
    fstype: str
    controllers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The hierarchy's name as /proc/self/cgroup spells it (``cpu,cpuacct``)."""
        return ",".join(self.controllers)


def _unescape(text: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space) without importing re."""
    if "\\" not in text:
        return text
    out = []
    start = 0
    while (i := text.find("\\", start)) != -1:
        digits = text[i + 1:i + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits):
            out += [text[start:i], chr(int(digits, 8))]
            start = i + 4
        else:
            out.append(text[start:i + 1])
            start = i + 1
    out.append(text[start:])
    return "".join(out)


def read_mounts(mountinfo: str = MOUNTINFO) -> list[Mount]:
    """Every cgroup and cgroup2 mount, first mount of each hierarchy first."""
    mounts: list[Mount] = []
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            try:
                sep = fields.index("-")
            except ValueError:
                continue
            if len(fields) < sep + 4 or fields[sep + 1] not in ("cgroup", "cgroup2"):
                continue
            fstype = fields[sep + 1]
            controllers: tuple[str, ...] = ()
            if fstype == "cgroup":
                options = fields[sep + 3].split(",")
                controllers = tuple(o for o in options
                                    if o in V1_CONTROLLERS or o.startswith("name="))
            mounts.append(Mount(_unescape(fields[4]), _unescape(fields[3]), fstype,
                                controllers))
    return mounts


def read_own(proc_cgroup: str = PROC_CGROUP) -> dict[frozenset[str], str]:
    """The runtime's own cgroup per hierarchy: {controllers: path}; v2 is ``frozenset()``."""
    own: dict[frozenset[str], str] = {}
    with open(proc_cgroup) as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                own[frozenset(c for c in parts[1].split(",") if c)] = parts[2]
    return own


def detect(mountinfo: str = MOUNTINFO, root: str = DEFAULT_ROOT) -> str:
    """``"v2"`` on a pure cgroup v2 host, ``"v1"`` on a legacy or hybrid one."""
    try:
        mounts = read_mounts(mountinfo)
    except OSError as exc:
        raise ExecutionError("linux.cgroupsPath", f"cannot read {mountinfo}: "
                             f"{exc.strerror}") from None
    if any(m.fstype == "cgroup2" and m.mountpoint == root for m in mounts):
        return "v2"
    if any(m.fstype == "cgroup" and m.controllers for m in mounts):
        return "v1"
    if any(m.fstype == "cgroup2" for m in mounts):
        return "v2"
    raise ExecutionError("linux.cgroupsPath", "no cgroup filesystem is mounted on this host")
