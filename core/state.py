"""The state store: one directory per container under ``--root`` (default /run/limpet).

``<root>/<id>/state.json`` is written atomically (write to a temporary file, rename).
``<root>/<id>/lock`` serialises verbs on one container (flock). The status is derived, not
stored: runtime-spec runtime.md#state. The init's start time (from /proc/PID/stat) guards
against a recycled pid.

Lean: standard library only (used by start, state, kill, delete).
"""

from __future__ import annotations

import fcntl
import os
import sys

from . import jsonlite
from .errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.3.0"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> str:
    """Container ids follow runc: letters, digits, ``_+-.``; no path separators."""
    if not container_id or not _ID_CHARS.issuperset(container_id) or \
            container_id in (".", ".."):
        raise ContainerError("container id", f"invalid container id {container_id!r}: use "
                             "letters, digits and _ + - . only")
    return container_id


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):   # a zombie has exited; the status is stopped
        return None
    return int(fields[19])


class Store:
    """The containers under one root directory."""

    def __init__(self, root: str) -> None:
        self.root = root

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, check_id(container_id))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names
                      if os.path.isfile(os.path.join(self.root, n, "state.json")))

    def exists(self, container_id: str) -> bool:
        return os.path.exists(os.path.join(self.dir(container_id), "state.json"))

    def make_dir(self, container_id: str) -> str:
        """Create the container's directory; fails if the id is taken (runc wording)."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        path = self.dir(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerError(container_id, f"container with id {container_id} "
                                 "already exists") from None
        return path

    def lock(self, container_id: str) -> Lock:
        """``with store.lock(id):`` holds the container's lock (blocks while another verb
        holds it)."""
        return Lock(os.path.join(self.dir(container_id), "lock"), container_id)

    def read(self, container_id: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self.dir(container_id), "state.json"), "rb") as f:
                data: dict[str, Any] = jsonlite.loads(f.read())
        except FileNotFoundError:
            raise not_found(container_id) from None
        return data

    def write(self, container_id: str, data: dict[str, Any]) -> None:
        directory = self.dir(container_id)
        tmp = os.path.join(directory, ".state.json.tmp")
        with open(tmp, "w") as f:
            f.write(jsonlite.dumps(data, compact=True))
        os.rename(tmp, os.path.join(directory, "state.json"))


class Lock:
    """flock(2) on a container's lock file (a class, not contextlib: one import less)."""

    def __init__(self, path: str, container_id: str) -> None:
        self.path = path
        self.container_id = container_id
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise not_found(self.container_id) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)


def remove_tree(path: str) -> None:
    """rm -rf of a state directory (shutil would import fnmatch, re, bz2 and lzma)."""
    for top, dirs, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(top, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(top, name))
            except OSError:   # a symlink to a directory, or not empty after all
                try:
                    os.unlink(os.path.join(top, name))
                except OSError:
                    pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def not_found(container_id: str) -> ContainerError:
    return ContainerError(None, f"container {container_id} does not exist")


def status(data: dict[str, Any], container_dir: str) -> str:
    """creating | created | running | stopped | paused, from the init's liveness (and the
    freezer: a frozen container is paused, even before start, as in runc)."""
    pid = data.get("pid")
    if not pid:
        # "creating" lasts only while the runtime that creates it lives (it may have been
        # killed mid-create: then the leftovers are stopped and can be deleted).
        creator = data.get("creatorPid")
        if data.get("status") == "creating" and creator and \
                proc_start_time(creator) == data.get("creatorStartTime"):
            return "creating"
        return "stopped"
    started = proc_start_time(pid)
    if started is None or started != data.get("initStartTime"):
        return "stopped"
    if _paused(data):
        return "paused"
    if os.path.exists(os.path.join(container_dir, "exec.fifo")):
        return "created"
    return "running"


def _paused(data: dict[str, Any]) -> bool:
    """Asked of the module that controls the container's cgroups: the freezer's state is
    the truth, as in runc."""
    try:
        control = control_module(data)
    except ImportError:   # the plugin was uninstalled since create: nothing to ask
        return False
    return control is not None and bool(control.paused(data["facts"]))


def control_module(data: dict[str, Any]) -> Any:
    """The module that controls the container through its cgroups (``facts["control"]``,
    recorded by the cgroups plugin at create), or None. It offers ``paused``, ``pause``,
    ``resume``, ``signal_all``, ``pids``, ``stats``, ``events`` and ``update``, each taking
    the container's facts, and ``orphans`` (processes left in the container's own cgroups
    after its init died); limpet.plugins.cgroups.control is the built-in one."""
    facts = data.get("facts") or {}
    name = facts.get("control")
    if not name:
        return None
    __import__(name)   # not importlib.import_module: importlib is one more import
    return sys.modules[name]


def oci_state(data: dict[str, Any], current: str) -> dict[str, Any]:
    """The runtime-spec state document (runtime.md#state)."""
    out: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "id": data["id"],
        "status": current,
        "bundle": data["bundle"],
    }
    if current != "stopped" and data.get("pid"):
        out["pid"] = data["pid"]
    else:
        out["pid"] = 0
    if data.get("annotations"):
        out["annotations"] = data["annotations"]
    return out


def wait_gone(pid: int, timeout: float, start_time: int | None = None) -> bool:
    """Poll until ``pid`` (not our child) is gone or a zombie; True if it went."""
    import time

    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        current = proc_start_time(pid)
        if current is None or (start_time is not None and current != start_time):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
