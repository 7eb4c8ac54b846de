"""The mount options of config-linux.md#mount-options as tables (runc's): what each
option sets or clears. Apart from :mod:`.ops` so that the plugin validates options in the
runtime process without importing the operations it never runs there."""

from __future__ import annotations

#: option -> (flag constant, clear?) for mount(2) flags (runc's table).
FLAGS: dict[str, tuple[str, bool]] = {
    "async": ("MS_SYNCHRONOUS", True), "atime": ("MS_NOATIME", True),
    "bind": ("MS_BIND", False), "defaults": ("", False), "dev": ("MS_NODEV", True),
    "diratime": ("MS_NODIRATIME", True), "dirsync": ("MS_DIRSYNC", False),
    "exec": ("MS_NOEXEC", True), "lazytime": ("MS_LAZYTIME", False),
    "loud": ("MS_SILENT", True), "mand": ("MS_MANDLOCK", False),
    "noatime": ("MS_NOATIME", False), "nodev": ("MS_NODEV", False),
    "nodiratime": ("MS_NODIRATIME", False), "noexec": ("MS_NOEXEC", False),
    "nolazytime": ("MS_LAZYTIME", True), "nomand": ("MS_MANDLOCK", True),
    "norelatime": ("MS_RELATIME", True), "nostrictatime": ("MS_STRICTATIME", True),
    "nosuid": ("MS_NOSUID", False), "nosymfollow": ("MS_NOSYMFOLLOW", False),
    "rbind": ("MS_BIND", False), "relatime": ("MS_RELATIME", False),
    "remount": ("MS_REMOUNT", False), "ro": ("MS_RDONLY", False),
    "rw": ("MS_RDONLY", True), "silent": ("MS_SILENT", False),
    "strictatime": ("MS_STRICTATIME", False), "suid": ("MS_NOSUID", True),
    "sync": ("MS_SYNCHRONOUS", False), "symfollow": ("MS_NOSYMFOLLOW", True),
}
PROPAGATION: dict[str, tuple[str, bool]] = {
    "private": ("MS_PRIVATE", False), "rprivate": ("MS_PRIVATE", True),
    "shared": ("MS_SHARED", False), "rshared": ("MS_SHARED", True),
    "slave": ("MS_SLAVE", False), "rslave": ("MS_SLAVE", True),
    "unbindable": ("MS_UNBINDABLE", False), "runbindable": ("MS_UNBINDABLE", True),
}
#: recursive options applied with mount_setattr(2): option -> (attr, clear?)
RECURSIVE: dict[str, tuple[str, bool]] = {
    "rro": ("MOUNT_ATTR_RDONLY", False), "rrw": ("MOUNT_ATTR_RDONLY", True),
    "rnosuid": ("MOUNT_ATTR_NOSUID", False), "rsuid": ("MOUNT_ATTR_NOSUID", True),
    "rnodev": ("MOUNT_ATTR_NODEV", False), "rdev": ("MOUNT_ATTR_NODEV", True),
    "rnoexec": ("MOUNT_ATTR_NOEXEC", False), "rexec": ("MOUNT_ATTR_NOEXEC", True),
    "rnodiratime": ("MOUNT_ATTR_NODIRATIME", False),
    "rdiratime": ("MOUNT_ATTR_NODIRATIME", True),
    "rrelatime": ("MOUNT_ATTR_RELATIME", False), "rnorelatime": ("MOUNT_ATTR_RELATIME", True),
    "rnoatime": ("MOUNT_ATTR_NOATIME", False), "ratime": ("MOUNT_ATTR_NOATIME", True),
    "rstrictatime": ("MOUNT_ATTR_STRICTATIME", False),
    "rnostrictatime": ("MOUNT_ATTR_STRICTATIME", True),
    "rnosymfollow": ("MOUNT_ATTR_NOSYMFOLLOW", False),
    "rsymfollow": ("MOUNT_ATTR_NOSYMFOLLOW", True),
}
#: options limpet handles itself and never passes to the kernel
SPECIAL = ("tmpcopyup", "idmap", "ridmap")
