"""The capability, rlimit and memory policy mode names of config.md#linux-process and
config-linux.md#memory-policy, apart from the operations that apply them (:mod:`.ops`,
with resource and termios): the plugin validates with these in the runtime process, which
never runs the operations itself."""

from __future__ import annotations

#: linux/capability.h
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}
#: getrlimit(2): every resource Linux defines (numbers from the kernel headers, const()).
RLIMITS = (
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
)
RLIM_INFINITY_SPEC = 2**64 - 1


_last_cap: list[int] = []


def last_cap() -> int:
    """The highest capability number this kernel knows (read once per process: the
    credentials op asks for each capability it sets)."""
    if not _last_cap:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap.append(int(f.read()))
        except OSError:
            _last_cap.append(len(CAPABILITIES) - 1)
    return _last_cap[0]


#: linux/mempolicy.h (an enum there; Debian 12's headers lack MPOL_WEIGHTED_INTERLEAVE)
MEMORY_POLICY_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2,
                       "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5,
                       "MPOL_WEIGHTED_INTERLEAVE": 6}
