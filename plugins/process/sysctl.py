"""linux.sysctl (config-linux.md#sysctl): kernel parameters of the container's namespaces.

Only namespaced keys are accepted, each checked against the namespaces the container has
(runc's rules, libcontainer/configs/validate): ``net.*`` needs a network namespace of its
own, ``kernel.msg*``/``kernel.sem``/``kernel.shm*`` and ``fs.mqueue.*`` an ipc namespace,
``kernel.domainname`` and ``kernel.hostname`` a uts namespace. Anything else would change
the host and is refused. A namespace joined by ``path`` that is the runtime's own counts
as the host's. Keys use ``.`` or, as in sysctl(8), ``/`` as separator (then a ``.`` is
part of a name: ``net/ipv4/conf/eth0.100/forwarding``).

The values are written under ``/proc/sys`` of the container after ``pivot_root`` and
before ``linux.readonlyPaths`` makes ``/proc/sys`` read-only: the ``sysctl`` plan phase.

Lean: standard library and limpet.core only (the handler runs in the container's init).
"""

from __future__ import annotations

import errno
import os

from limpet.core import jsonlite
from limpet.core.errors import ExecutionError, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.sysctl"

#: runc's list of ipc-namespaced kernel.* keys (plus every fs.mqueue.* key).
IPC_KEYS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
UTS_KEYS = {"kernel.domainname": "domainname", "kernel.hostname": "hostname"}
#: what the namespace is called in linux.namespaces
NS_NAME = {"ipc": "ipc", "net": "network", "uts": "uts"}


def where_of(key: str) -> str:
    """``linux.sysctl["net.ipv4.ip_forward"]``: the config path of one key."""
    return f"{WHERE}[{jsonlite.dumps(key)}]"


def dotted(key: str) -> str:
    """The key with ``.`` separators (sysctl(8): if the first separator is ``/``, ``/`` and
    ``.`` swap roles)."""
    first = next((c for c in key if c in "./"), ".")
    if first == ".":
        return key
    return key.translate(str.maketrans("./", "/."))


def proc_path(key: str) -> str:
    """The file under /proc/sys of a key: ``net.ipv4.ip_forward`` -> ``net/ipv4/ip_forward``."""
    return dotted(key).translate(str.maketrans("./", "/."))


def _namespace_kind(key: str) -> str | None:
    """The namespace a key belongs to (``ipc``, ``net``, ``uts``), or None if it is global."""
    if key in IPC_KEYS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "net"
    if key in UTS_KEYS:
        return "uts"
    return None


def _is_current(ns_type: str, path: str, proc: str = "/proc") -> bool:
    """Whether the namespace file ``path`` is the runtime's own (runc's isHostNetNS)."""
    try:
        ours, theirs = os.stat(f"{proc}/self/ns/{ns_type}"), os.stat(path)
    except OSError:
        return False   # the namespaces plugin reports a bad path
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def private_namespaces(spec: Any, proc: str = "/proc") -> set[str]:
    """Which of ipc, net, uts the container has apart from the runtime's."""
    found = set()
    for ns in (spec.linux.namespaces or []) if spec.linux else []:
        for kind, name in NS_NAME.items():
            if ns.type == name and not (ns.path and _is_current(kind, ns.path, proc)):
                found.add(kind)
    return found


def validate(spec: Any, proc: str = "/proc") -> None:
    sysctls = spec.linux.sysctl if spec.linux else None
    if not sysctls:
        return
    private = private_namespaces(spec, proc)
    for key, value in sysctls.items():
        where = where_of(key)
        name = dotted(key)
        parts = proc_path(key).split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise SpecError(where, f"{key!r} is not a sysctl name")
        if "\n" in value or "\0" in value:
            raise SpecError(where, "the value must be one line without NUL bytes")
        kind = _namespace_kind(name)
        if kind is None:
            raise SpecError(where, f"{name} is not namespaced: setting it would change the "
                            "host; only net.*, fs.mqueue.*, kernel.msgmax, kernel.msgmnb, "
                            "kernel.msgmni, kernel.sem, kernel.shm*, kernel.domainname and "
                            "kernel.hostname can be set for a container")
        if kind not in private:
            raise SpecError(where, f"{name} needs its own {NS_NAME[kind]} namespace (add "
                            f"{{\"type\": \"{NS_NAME[kind]}\"}} to linux.namespaces); in the "
                            "runtime's it would change the host")
        if name == "kernel.hostname" and spec.hostname:
            raise SpecError(where, "kernel.hostname conflicts with the hostname field "
                            "(set only one of them)")
        if name == "kernel.domainname" and spec.domainname:
            raise SpecError(where, "kernel.domainname conflicts with the domainname field "
                            "(set only one of them)")


def plan(spec: Any, plan: Any) -> None:
    sysctls = spec.linux.sysctl if spec.linux else None
    if sysctls:
        plan.add("sysctl", "write-sysctls", WHERE, sysctls=[
            {"key": key, "path": proc_path(key), "value": value, "where": where_of(key)}
            for key, value in sysctls.items()])


def write_sysctls(ctx: Any, args: dict[str, Any]) -> None:
    """Write each value to /proc/sys/PATH of the container (its own /proc mount)."""
    for item in args["sysctls"]:
        path = ctx.root_path(f"/proc/sys/{item['path']}")
        where, key = item["where"], item["key"]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                have_proc = os.path.isdir(ctx.root_path("/proc/sys"))
                raise ExecutionError(where, f"{key}: no such sysctl in this kernel "
                                     f"(/proc/sys/{item['path']})" if have_proc else
                                     f"{key}: /proc/sys is missing in the container (mount "
                                     "proc on /proc)", errno=exc.errno) from None
            raise ExecutionError(where, f"{key}: cannot open /proc/sys/{item['path']}: "
                                 f"{exc.strerror}", errno=exc.errno) from None
        try:
            os.write(fd, item["value"].encode())
        except OSError as exc:
            what = "value refused by the kernel" if exc.errno == errno.EINVAL else "write"
            raise ExecutionError(where, f"{key} = {item['value']!r}: {what}: "
                                 f"{exc.strerror}", errno=exc.errno) from None
        finally:
            os.close(fd)
