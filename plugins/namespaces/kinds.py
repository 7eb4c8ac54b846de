"""The namespace types of config-linux.md#namespaces: clone flag and /proc/PID/ns file.
Apart from :mod:`.ops` so that the plugin validates in the runtime process without
importing the operations the init runs."""

from __future__ import annotations

#: runtime-spec namespace type -> (clone flag name, /proc/PID/ns file)
NAMESPACES: dict[str, tuple[str, str]] = {
    "user": ("CLONE_NEWUSER", "user"),
    "mount": ("CLONE_NEWNS", "mnt"),
    "pid": ("CLONE_NEWPID", "pid"),
    "network": ("CLONE_NEWNET", "net"),
    "ipc": ("CLONE_NEWIPC", "ipc"),
    "uts": ("CLONE_NEWUTS", "uts"),
    "cgroup": ("CLONE_NEWCGROUP", "cgroup"),
    "time": ("CLONE_NEWTIME", "time"),
}
