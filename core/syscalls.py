"""The syscall seam: typed wrappers over the compiled cffi bindings.

Every native call goes through :func:`_check`, the one errno -> OSError choke point, which
keeps the paths involved. :class:`Syscalls` is what op handlers receive; tests of plugin
logic pass :class:`RecordingSyscalls` instead, which records calls and touches nothing.

Imported by the lean init: standard library and ``limpet.core._native`` only.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _native() -> Any:
    from . import _native as native  # type: ignore[attr-defined]  # built at install time

    return native


class _Lazy:
    """Load the compiled module on first use so that importing this module is free."""

    ffi: Any
    lib: Any

    def __getattr__(self, name: str) -> Any:
        native = _native()
        self.ffi, self.lib = native.ffi, native.lib
        return getattr(self, name)


_n = _Lazy()


def _check(rc: int, what: str, path: str | None = None, path2: str | None = None) -> int:
    if rc < 0:
        err = _n.ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}", path, None, path2)
    return rc


def _c(s: str | None) -> Any:
    return _n.ffi.NULL if s is None else s.encode()


def const(name: str) -> int:
    """A constant from the kernel headers (MS_BIND, CLONE_NEWNS, ...)."""
    return int(getattr(_n.lib, name))


class Syscalls:
    """The real thing: each method is one system call (or a tiny, fixed sequence)."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        _check(_n.lib.mount(_c(source), _c(target), _c(fstype), flags, _c(data)),
               "mount", source or fstype, target)

    def umount(self, target: str, flags: int = 0) -> None:
        _check(_n.lib.umount2(_c(target), flags), "umount", target)

    def unshare(self, flags: int) -> None:
        _check(_n.lib.unshare(flags), "unshare")

    def setns(self, fd: int, nstype: int, path: str | None = None) -> None:
        _check(_n.lib.setns(fd, nstype), "setns", path)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        _check(_n.lib.limpet_pivot_root(_c(new_root), _c(put_old)), "pivot_root", new_root)

    def mount_setattr(self, dfd: int, path: str, flags: int, attr_set: int, attr_clr: int,
                      propagation: int = 0, userns_fd: int = 0) -> None:
        """``userns_fd`` is read only with MOUNT_ATTR_IDMAP in ``attr_set``."""
        _check(_n.lib.limpet_mount_setattr(dfd, _c(path), flags, attr_set, attr_clr,
                                           propagation, userns_fd), "mount_setattr", path)

    def open_tree(self, dfd: int, path: str, flags: int) -> int:
        return _check(_n.lib.limpet_open_tree(dfd, _c(path), flags), "open_tree", path)

    def move_mount(self, from_fd: int, from_path: str, to_fd: int, to_path: str,
                   flags: int) -> None:
        _check(_n.lib.limpet_move_mount(from_fd, _c(from_path), to_fd, _c(to_path), flags),
               "move_mount", to_path)

    def join_session_keyring(self, name: str) -> int:
        """keyctl(KEYCTL_JOIN_SESSION_KEYRING): join (or create) the session keyring
        ``name``; returns its serial."""
        return _check(_n.lib.limpet_keyctl_join_session(_c(name)), "keyctl join", name)

    def keyctl_setperm(self, key: int, perm: int) -> None:
        _check(_n.lib.limpet_keyctl_setperm(key, perm), "keyctl setperm")

    def keyctl_describe(self, key: int) -> str:
        """``type;uid;gid;perm;description`` (perm in hex), as keyctl_describe(3)."""
        buffer = _n.ffi.new("char[]", 512)
        size = _check(_n.lib.limpet_keyctl_describe(key, buffer, 512), "keyctl describe")
        text: str = _n.ffi.string(buffer, min(size, 512)).decode()
        return text

    def openat2(self, dfd: int, path: str, flags: int, mode: int, resolve: int) -> int:
        return _check(_n.lib.limpet_openat2(dfd, _c(path), flags, mode, resolve), "open", path)

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        _check(_n.lib.sethostname(raw, len(raw)), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        _check(_n.lib.setdomainname(raw, len(raw)), "setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int:
        return _check(_n.lib.prctl(option, arg2, arg3, arg4, arg5), "prctl")

    def personality(self, persona: int) -> None:
        _check(_n.lib.personality(persona), "personality")

    def capget(self) -> tuple[int, int, int]:
        """Return (effective, permitted, inheritable) of the calling thread as 64-bit masks."""
        data = _n.ffi.new("uint32_t[6]")
        _check(_n.lib.limpet_capget(0, data), "capget")
        return (data[0] | data[1] << 32, data[2] | data[3] << 32, data[4] | data[5] << 32)

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        mask = 0xFFFFFFFF
        data = _n.ffi.new("uint32_t[6]", [effective & mask, effective >> 32,
                                           permitted & mask, permitted >> 32,
                                           inheritable & mask, inheritable >> 32])
        _check(_n.lib.limpet_capset(0, data), "capset")

    def seccomp_filter(self, bpf: bytes, flags: int = 0) -> int:
        """seccomp(SECCOMP_SET_MODE_FILTER, flags) with a classic BPF program (8 bytes per
        instruction); returns the notification fd with SECCOMP_FILTER_FLAG_NEW_LISTENER."""
        return _check(_n.lib.limpet_seccomp_filter(flags, bpf, len(bpf) // 8), "seccomp")

    def seccomp_flags_supported(self, flags: int) -> bool:
        """Whether the kernel knows these filter flags: with no program at all seccomp(2)
        then fails with EFAULT rather than EINVAL (libseccomp probes the same way)."""
        _n.lib.limpet_seccomp_filter(flags, _n.ffi.NULL, 0)
        return bool(_n.ffi.errno == errno.EFAULT)

    def sched_setattr(self, policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                      runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
        """sched_setattr(2) of the calling thread."""
        _check(_n.lib.limpet_sched_setattr(0, policy, flags, nice, priority, runtime,
                                           deadline, period), "sched_setattr")

    def ioprio_set(self, which: int, who: int, ioprio: int) -> None:
        _check(_n.lib.limpet_ioprio_set(which, who, ioprio), "ioprio_set")

    def set_mempolicy(self, mode: int, nodes: list[int]) -> None:
        """set_mempolicy(2) of the calling thread; ``nodes`` are node numbers."""
        bits = 64 * (max(nodes, default=0) // 64 + 1)
        mask = _n.ffi.new("unsigned long[]", bits // 64)
        for node in nodes:
            mask[node // 64] |= 1 << (node % 64)
        # maxnode counts one more than the mask's bits (the kernel drops the last one).
        _check(_n.lib.limpet_set_mempolicy(mode, mask if nodes else _n.ffi.NULL,
                                           bits + 1 if nodes else 0), "set_mempolicy")

    def bpf_prog_load_cgroup_device(self, insns: bytes, license: str) -> int:
        """BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (``struct bpf_insn``
        bytes); the verifier's log is in the error message if the kernel refuses it."""
        code = _n.ffi.new("char[]", insns)
        lic = _n.ffi.new("char[]", license.encode())
        log = _n.ffi.new("char[]", 65536)
        rc = _n.lib.limpet_bpf_prog_load_cgroup_device(code, len(insns) // 8, lic, log, 65536)
        if rc < 0:
            err = _n.ffi.errno
            text = _n.ffi.string(log).decode(errors="replace").strip()
            raise OSError(err, f"{os.strerror(err)}" + (f" (verifier: {text[-500:]})"
                                                        if text else ""))
        return int(rc)

    def bpf_prog_attach_cgroup_device(self, cgroup_fd: int, prog_fd: int) -> None:
        """BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)."""
        _check(_n.lib.limpet_bpf_prog_attach_cgroup_device(cgroup_fd, prog_fd), "bpf attach")

    def bpf_prog_detach_cgroup_device(self, cgroup_fd: int, prog_fd: int) -> None:
        _check(_n.lib.limpet_bpf_prog_detach_cgroup_device(cgroup_fd, prog_fd), "bpf detach")

    def bpf_prog_query_cgroup_device(self, cgroup_fd: int) -> list[int]:
        """The ids of the device programs attached to the cgroup."""
        size = 64
        while True:
            ids = _n.ffi.new("uint32_t[]", size)
            count = _n.ffi.new("uint32_t *", size)
            rc = _n.lib.limpet_bpf_prog_query_cgroup_device(cgroup_fd, ids, count)
            if rc < 0 and _n.ffi.errno == errno.ENOSPC and count[0] > size:
                size = count[0]
                continue
            _check(rc, "bpf query")
            return [int(ids[i]) for i in range(count[0])]

    def bpf_prog_get_fd_by_id(self, prog_id: int) -> int:
        return _check(_n.lib.limpet_bpf_prog_get_fd_by_id(prog_id), "bpf get fd by id")


class RecordingSyscalls(Syscalls):
    """A fake for unit tests: records every call as (name, args) and performs none."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name == "calls" or not callable(getattr(Syscalls, name, None)):
            return object.__getattribute__(self, name)
        calls = object.__getattribute__(self, "calls")

        def record(*args: Any) -> Any:
            calls.append((name, args))
            if name == "capget":
                return (0, 0, 0)
            return 3 if name in ("open_tree", "openat2") else None

        return record
