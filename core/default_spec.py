"""The config.json that ``limpet spec`` writes: runc's default (runc spec), so that a bundle
made by either runtime behaves the same under both, plus the engines' default seccomp
profile (podman's, resolved for the default capabilities; runc spec has none), left out when
the seccomp plugin is not enabled. ``--rootless`` adapts it like runc's ``spec
--rootless``: a user namespace mapping the caller, no network namespace change, /sys
bind-mounted."""

from __future__ import annotations

import copy
import os
from typing import Any

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

DEFAULT: dict[str, Any] = {
    "ociVersion": "1.3.0",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS,
                         "ambient": CAPS},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "limpet",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                     "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


def default_seccomp(capabilities: list[str]) -> dict[str, Any] | None:
    """The engines' default linux.seccomp for this bounding set (None without the plugin)."""
    try:
        from limpet.plugins.seccomp.profile import default_profile
    except ImportError:
        return None
    return default_profile(capabilities)


def default_spec(rootless: bool = False, seccomp: bool = True) -> dict[str, Any]:
    spec = copy.deepcopy(DEFAULT)
    if seccomp:
        profile = default_seccomp(spec["process"]["capabilities"]["bounding"])
        if profile is not None:
            spec["linux"]["seccomp"] = profile
    if not rootless:
        return spec
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    del linux["resources"]
    mounts = [m for m in spec["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                   "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    for m in mounts:
        if m["destination"] == "/dev/pts":
            m["options"] = [o for o in m["options"] if o != "gid=5"]
        if m["destination"] == "/dev/mqueue":
            m.update(type="bind", source="/dev/mqueue",
                     options=["rbind", "nosuid", "noexec", "nodev"])
    spec["mounts"] = mounts
    return spec
