"""Filesystem operations, run in the container process before the user program.

config.md#root, #mounts; config-linux.md#mount-options, #rootfs-mount-propagation,
#masked-paths, #readonly-paths. Every destination is resolved inside the rootfs by
:mod:`limpet.core.paths`; mounts land on ``/proc/self/fd/N`` of the resolved fd, so a path
that changes after it was checked cannot redirect a mount.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import os
import stat

from limpet.core import paths
from limpet.core.errors import ExecutionError
from limpet.core.syscalls import const

from .flags import FLAGS, PROPAGATION, RECURSIVE, SPECIAL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: statvfs flags that a remount must keep, or the kernel refuses it in a user namespace
_LOCKED = ((os.ST_NOSUID, "MS_NOSUID"), (os.ST_NODEV, "MS_NODEV"),
           (os.ST_NOEXEC, "MS_NOEXEC"), (os.ST_RDONLY, "MS_RDONLY"))


def parse_options(options: list[str]) -> dict[str, Any]:
    """Split mount options into flags, propagation, recursive attrs and fs data."""
    flags = clear = 0
    propagation: list[int] = []
    attr_set = attr_clr = 0
    data: list[str] = []
    for option in options:
        if option in FLAGS:
            name, is_clear = FLAGS[option]
            if not name:
                continue
            if is_clear:
                flags &= ~const(name)
                clear |= const(name)
            else:
                flags |= const(name)
            if option == "rbind":
                flags |= const("MS_REC")
        elif option in PROPAGATION:
            name, rec = PROPAGATION[option]
            propagation.append(const(name) | (const("MS_REC") if rec else 0))
        elif option in RECURSIVE:
            name, is_clear = RECURSIVE[option]
            if is_clear:
                attr_clr |= const(name)
            else:
                attr_set |= const(name)
        elif option not in SPECIAL:
            data.append(option)
    return {"flags": flags, "clear": clear, "propagation": propagation,
            "attr_set": attr_set, "attr_clr": attr_clr, "data": ",".join(data),
            "tmpcopyup": "tmpcopyup" in options}


def _root_fd(ctx: Any) -> int:
    fd = getattr(ctx, "root_fd", None)
    if fd is None:
        root = "/" if ctx.pivoted else ctx.rootfs
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        ctx.root_fd = fd
    return int(fd)


def _reset_root_fd(ctx: Any) -> None:
    fd = getattr(ctx, "root_fd", None)
    if fd is not None:
        os.close(fd)
        ctx.root_fd = None


def _locked_flags(target: str) -> int:
    have = os.statvfs(target).f_flag
    return sum(const(name) for bit, name in _LOCKED if have & bit)


def remount(ctx: Any, target: str, flags: int, clear: int = 0) -> None:
    """Bind-remount ``target`` with ``flags``, keeping the flags the kernel locks."""
    keep = _locked_flags(target) & ~clear
    ctx.sys.mount(None, target, None,
                  const("MS_BIND") | const("MS_REMOUNT") | (flags | keep), None)


def rootfs_propagation(ctx: Any, args: dict[str, Any]) -> None:
    """Make "/" rslave (or what linux.rootfsPropagation asks) so nothing leaks to the host."""
    ctx.sys.mount(None, "/", None, const(args["flag"]) | const("MS_REC"), None)


def bind_rootfs(ctx: Any, args: dict[str, Any]) -> None:
    """Bind the rootfs onto itself: pivot_root needs it to be a mount point."""
    ctx.sys.mount(ctx.rootfs, ctx.rootfs, None, const("MS_BIND") | const("MS_REC"), None)


def mount(ctx: Any, args: dict[str, Any]) -> None:
    """One entry of mounts[]."""
    where = args["where"]
    opts = parse_options(args.get("options") or [])
    fstype = args.get("type")
    source = args.get("source")
    bind = bool(opts["flags"] & const("MS_BIND")) or fstype == "bind"
    mode = args.get("symlinks", paths.BENEATH)
    destination = args["destination"]
    if fstype == "cgroup" and not bind:
        return mount_cgroup(ctx, args, opts)
    if bind and args.get("idmap"):
        return mount_idmapped(ctx, args, opts)
    if bind:
        if not source:
            raise ExecutionError(where + ".source", "a bind mount needs a source")
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as exc:
            raise ExecutionError(where + ".source", f"{source}: {exc.strerror}") from None
    else:
        is_dir = True
    fd = paths.make_in_root(ctx, _root_fd(ctx), destination, where=where + ".destination",
                            mode=mode, is_dir=is_dir)
    try:
        target = paths.fd_path(fd)
        if opts["tmpcopyup"]:
            _tmpcopyup(ctx, target, opts, source or "tmpfs")
        elif bind:
            base = const("MS_BIND") | (opts["flags"] & const("MS_REC"))
            ctx.sys.mount(source, target, None, base, None)
        else:
            ctx.sys.mount(source or fstype, target, fstype, opts["flags"], opts["data"] or None)
    finally:
        os.close(fd)
    _set_attributes(ctx, args, opts, bind)


def _set_attributes(ctx: Any, args: dict[str, Any], opts: dict[str, Any], bind: bool) -> None:
    """Flags, propagation and recursive attributes apply to the new mount: reopen it."""
    extra = opts["flags"] & ~(const("MS_BIND") | const("MS_REC") | const("MS_REMOUNT"))
    if not (bind and (extra or opts["clear"]) or opts["propagation"] or opts["attr_set"]
            or opts["attr_clr"]):
        return
    fd = paths.open_in_root(ctx, _root_fd(ctx), args["destination"], where=args["where"],
                            mode=args.get("symlinks", paths.BENEATH))
    try:
        target = paths.fd_path(fd)
        if bind and (extra or opts["clear"]):
            remount(ctx, target, extra, opts["clear"])
        for flag in opts["propagation"]:
            ctx.sys.mount(None, target, None, flag, None)
        if opts["attr_set"] or opts["attr_clr"]:
            ctx.sys.mount_setattr(fd, "", const("AT_EMPTY_PATH") | const("AT_RECURSIVE"),
                                  opts["attr_set"], opts["attr_clr"])
    finally:
        os.close(fd)


def mount_idmapped(ctx: Any, args: dict[str, Any], opts: dict[str, Any]) -> None:
    """An id-mapped bind mount: the runtime clones and maps the source in the host's user
    namespace (:mod:`.idmap`) and sends the detached tree; it is attached here with
    move_mount(2) on the resolved destination. The source is never looked up from here,
    so it need not be reachable by the container's user namespace."""
    where = args["where"]
    fds = ctx.call_parent("idmapped-tree", where=where, source=args["source"],
                          rbind=bool(opts["flags"] & const("MS_REC")), **args["idmap"])
    if not fds:
        raise ExecutionError(where, "the runtime sent no id-mapped mount")
    tree = fds[0]
    try:
        is_dir = stat.S_ISDIR(os.fstat(tree).st_mode)
        fd = paths.make_in_root(ctx, _root_fd(ctx), args["destination"],
                                where=where + ".destination",
                                mode=args.get("symlinks", paths.BENEATH), is_dir=is_dir)
        try:
            ctx.sys.move_mount(tree, "", fd, "", const("MOVE_MOUNT_F_EMPTY_PATH")
                               | const("MOVE_MOUNT_T_EMPTY_PATH"))
        finally:
            os.close(fd)
    finally:
        for extra in fds:
            os.close(extra)
    _set_attributes(ctx, args, opts, bind=True)


def _tmpcopyup(ctx: Any, target: str, opts: dict[str, Any], source: str) -> None:
    """Mount a tmpfs over ``target`` holding a copy of what was there (crun's tmpcopyup)."""
    import shutil  # here, not at the top: it pulls bz2/lzma; mounts run before pivot_root

    staging = os.path.join(ctx.state_dir, "tmpcopyup")
    os.makedirs(staging, exist_ok=True)
    ctx.sys.mount(source, staging, "tmpfs", opts["flags"], opts["data"] or None)
    try:
        for name in os.listdir(target):
            src = os.path.join(target, name)
            dst = os.path.join(staging, name)
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
        ctx.sys.mount(staging, target, None, const("MS_MOVE"), None)
    except BaseException:
        ctx.sys.umount(staging, const("MNT_DETACH"))
        raise
    finally:
        os.rmdir(staging)


def _cgroup_hierarchies() -> list[tuple[str, str, str]]:
    """(mount point name, fstype, options) of the host's cgroup mounts."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            fstype, _source, super_opts = post.split()[:3]
            if fstype in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup"):
                name = fields[4][len("/sys/fs/cgroup"):].strip("/")
                opts = [o for o in super_opts.split(",") if o not in ("rw", "ro")]
                found.append((name, fstype, ",".join(opts)))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller list (as in /proc/self/cgroup, "" for v2) -> our cgroup path."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            own[controllers] = path
    return own


def _own_path(fstype: str, data: str, own: dict[str, str]) -> str:
    """Our cgroup path in the hierarchy mounted with these super options."""
    if fstype == "cgroup2":
        return own.get("", "/")
    options = set(data.split(","))
    for controllers, path in own.items():
        if controllers and set(controllers.split(",")) <= options:
            return path
    return "/"


def _mount_hierarchy(ctx: Any, reopen: Any, fstype: str, data: str, flags: int,
                     fresh: bool, host_dir: str, own: dict[str, str]) -> None:
    """A cgroup namespace sees its own root in a fresh mount; without one, bind the
    container's own cgroup directory (runc does the same)."""
    fd = reopen()
    try:
        if fresh:
            ctx.sys.mount("cgroup", paths.fd_path(fd), fstype, flags, data or None)
            return
        source = os.path.join(host_dir, _own_path(fstype, data, own).lstrip("/"))
        ctx.sys.mount(source, paths.fd_path(fd), None, const("MS_BIND") | const("MS_REC"),
                      None)
    finally:
        os.close(fd)
    fd = reopen()   # the fd above names the directory under the new mount
    try:
        remount(ctx, paths.fd_path(fd), flags & ~const("MS_REMOUNT"))
    finally:
        os.close(fd)


def comount_links(names: list[str]) -> list[tuple[str, str]]:
    """(link, target): each controller of a co-mounted v1 hierarchy ("cpu,cpuacct") also
    answers to its own name, as on the host and in runc's containers (cpu -> cpu,cpuacct)."""
    taken = set(names)
    out = []
    for name in names:
        if "," not in name or "/" in name:
            continue
        for part in name.split(","):
            if part and part not in taken:
                taken.add(part)
                out.append((part, name))
    return out


def mount_cgroup(ctx: Any, args: dict[str, Any], opts: dict[str, Any]) -> None:
    """The ``cgroup`` mount: on a unified host, cgroup2; on v1, a tmpfs holding one mount per
    host hierarchy and a link per co-mounted controller (runc and crun build the same
    shape). Read-only unless asked otherwise."""
    where = args["where"]
    destination = args["destination"]
    fresh = bool(args.get("cgroupns"))
    hierarchies = _cgroup_hierarchies()
    own = _own_cgroups()
    flags = opts["flags"]
    os.close(paths.make_in_root(ctx, _root_fd(ctx), destination, where=where + ".destination"))

    def reopen_destination() -> int:
        return paths.open_in_root(ctx, _root_fd(ctx), destination, where=where)

    unified = [h for h in hierarchies if h[0] == "" and h[1] == "cgroup2"]
    if unified:
        _, fstype, data = unified[0]
        _mount_hierarchy(ctx, reopen_destination, fstype, data, flags, fresh,
                         "/sys/fs/cgroup", own)
        return
    fd = reopen_destination()
    try:
        base = const("MS_NOSUID") | const("MS_NODEV") | const("MS_NOEXEC")
        ctx.sys.mount("tmpfs", paths.fd_path(fd), "tmpfs", base, "mode=755")
    finally:
        os.close(fd)
    root = reopen_destination()
    try:
        for name, fstype, data in hierarchies:
            if not name or "/" in name:
                continue
            os.mkdir(name, 0o755, dir_fd=root)

            def reopen(name: str = name) -> int:
                return paths.open_in_root(ctx, root, name, where=where)

            _mount_hierarchy(ctx, reopen, fstype, data, flags, fresh,
                             f"/sys/fs/cgroup/{name}", own)
        for link, target in comount_links([h[0] for h in hierarchies]):
            os.symlink(target, link, dir_fd=root)
    finally:
        os.close(root)
    if flags & const("MS_RDONLY"):
        fd = reopen_destination()
        try:
            remount(ctx, paths.fd_path(fd), const("MS_RDONLY"))
        finally:
            os.close(fd)


def pivot_root(ctx: Any, args: dict[str, Any]) -> None:
    """Make the rootfs "/" (pivot_root(".", ".") as runc does; MS_MOVE+chroot with
    --no-pivot) and detach the old root."""
    _reset_root_fd(ctx)
    if args.get("no_pivot"):
        os.chdir(ctx.rootfs)
        ctx.sys.mount(ctx.rootfs, "/", None, const("MS_MOVE"), None)
        os.chroot(".")
    else:
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new_root = os.open(ctx.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(new_root)
            ctx.sys.pivot_root(".", ".")
            os.fchdir(old_root)
            ctx.sys.mount(None, ".", None, const("MS_SLAVE") | const("MS_REC"), None)
            ctx.sys.umount(".", const("MNT_DETACH"))
        finally:
            os.close(old_root)
            os.close(new_root)
    os.chdir("/")
    ctx.pivoted = True
    if args.get("propagation"):
        ctx.sys.mount(None, "/", None, const(args["propagation"]) | const("MS_REC"), None)


def mask_paths(ctx: Any, args: dict[str, Any]) -> None:
    """linux.maskedPaths: /dev/null over files, an empty read-only tmpfs over directories."""
    for i, path in enumerate(args["paths"]):
        try:
            fd = paths.open_in_root(ctx, _root_fd(ctx), path,
                                    where=f"linux.maskedPaths[{i}]", mode=paths.IN_ROOT)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            target = paths.fd_path(fd)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                ctx.sys.mount("tmpfs", target, "tmpfs", const("MS_RDONLY"), None)
            else:
                _check_dev_null(f"linux.maskedPaths[{i}]")
                ctx.sys.mount("/dev/null", target, None, const("MS_BIND"), None)
        finally:
            os.close(fd)


def _check_dev_null(where: str) -> None:
    """Masking a file binds the container's /dev/null over it: say so if there is none."""
    try:
        st = os.stat("/dev/null")
    except OSError:
        st = None
    if st is None or not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        raise ExecutionError(where, "masking a file needs the null device at /dev/null in the "
                             "container; the devices plugin in use did not create it")


def readonly_paths(ctx: Any, args: dict[str, Any]) -> None:
    """linux.readonlyPaths: bind each path onto itself, then remount it read-only."""
    for i, path in enumerate(args["paths"]):
        where = f"linux.readonlyPaths[{i}]"
        try:
            fd = paths.open_in_root(ctx, _root_fd(ctx), path, where=where, mode=paths.IN_ROOT)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            target = paths.fd_path(fd)
            ctx.sys.mount(target, target, None, const("MS_BIND") | const("MS_REC"), None)
        finally:
            os.close(fd)
        fd = paths.open_in_root(ctx, _root_fd(ctx), path, where=where, mode=paths.IN_ROOT)
        try:
            remount(ctx, paths.fd_path(fd), const("MS_RDONLY") | const("MS_REC"))
        finally:
            os.close(fd)


def readonly_root(ctx: Any, args: dict[str, Any]) -> None:
    """root.readonly: remount "/" read-only (after every other mount is in place)."""
    remount(ctx, "/", const("MS_RDONLY"))
