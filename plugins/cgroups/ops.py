"""cgroups op handlers, run in the runtime process (lean: standard library, limpet.core).

All in phase ``prepare``, before the init gets its plan (so before it creates any namespace:
a new cgroup namespace then has the container's cgroup as its root):

- ``cgroup-create``: make the container's directories, fill v1 cpuset files / enable v2
  controllers, register the ``cgroup-remove`` teardown (run by ``delete`` and by the
  rollback of a failed create), and record the facts later verbs use (below);
- ``cgroup-write``: one value into one file (a limit, a v1 device rule);
- ``cgroup-devices``: the cgroup v2 device filter, a BPF program (:mod:`.bpf_devices`);
- ``cgroup-attach``: the init's pid into every ``cgroup.procs``; the container process,
  forked by the init later, inherits the cgroups;
- ``cgroup-remove`` (teardown): rmdir what ``cgroup-create`` made, never what it joined.

Facts saved in state.json for the verbs after create: ``cgroups`` (driver, directories,
the resources applied), ``control`` (the module that pauses, resumes, updates, reports
stats: :mod:`.control`) and ``procsFiles`` (read by the core's ``kill --all``).
"""

from __future__ import annotations

import os

from limpet.core import jsonlite
from limpet.core.entrypoints import resolve
from limpet.core.errors import ExecutionError
from limpet.core.syscalls import Syscalls

from . import cgfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

REMOVE_KIND = "cgroup-remove"
BACKENDS = ("v1", "v2")
CONTROL = "limpet.plugins.cgroups.control"


def create(pctx: Any, args: dict[str, Any]) -> None:
    """Create (or join) the container's cgroup directories."""
    where = args.get("where")
    if args["driver"] not in BACKENDS:
        raise ExecutionError(where, f"unknown cgroups backend {args['driver']!r}")
    # the backend is imported here only: delete and attach need nothing but cgfs
    backend = resolve(f"{__package__}.{args['driver']}")
    dirs: list[dict[str, Any]] = args["cgroups"]
    created: list[str] = []
    extra = {} if args.get("enableRoot", True) else {"enable_root": False}
    try:
        backend.create(dirs, where, created, **extra)
    finally:
        pctx.on_delete(REMOVE_KIND, where, driver=args["driver"],
                       cgroups=[d["path"] for d in dirs], remove=created)
    pctx.facts["cgroups"] = {"driver": args["driver"], "dirs": dirs,
                             "resources": args.get("resources") or {},
                             "owned": all(d["path"] in created for d in dirs)}
    pctx.facts["control"] = CONTROL


def write(pctx: Any, args: dict[str, Any]) -> None:
    """Write ``args["value"]`` to ``args["file"]`` (or an alternative); errors name the
    config path."""
    cgfs.apply(args["file"], args["value"], args.get("where"), args.get("hint"),
               [(a[0], a[1]) for a in args.get("alternatives") or []],
               verify=bool(args.get("verify")), usage=args.get("usage"))


def device_filter(pctx: Any, args: dict[str, Any]) -> None:
    """Attach the BPF device filter for ``args["rules"]`` to the cgroup v2 directory."""
    from . import bpf_devices

    rules = [bpf_devices.Rule.parse(r) for r in args["rules"]]
    bpf_devices.attach(Syscalls(), args["path"], rules, args.get("where"))


def attach(pctx: Any, args: dict[str, Any]) -> None:
    """Move the init (``pctx.init_pid``) into every cgroup of the container."""
    pid = str(pctx.init_pid)
    for path in args["cgroups"]:
        cgfs.write(os.path.join(path, "cgroup.procs"), pid, args.get("where"))
    # kill --all and delete find the container's processes here
    pctx.facts["procsFiles"] = [os.path.join(path, "cgroup.procs") for path in args["cgroups"]]


def remove(pctx: Any, args: dict[str, Any]) -> None:
    """rmdir the cgroups this container created: its own directories (children first,
    retrying while busy), then the parents it made, if no one else uses them now."""
    made: list[str] = args.get("remove", [])
    parents = {p for p in made if any(o.startswith(p + "/") for o in made)}
    failures = []
    for path in made:
        if path in parents:
            continue
        try:
            cgfs.remove(path)
        except ExecutionError as exc:
            failures.append(exc.message)
    for path in sorted(parents, key=len, reverse=True):
        try:
            os.rmdir(path)   # never recursive: siblings may belong to other containers
        except OSError:
            pass
    if failures:
        raise ExecutionError(args.get("where") or "linux.cgroupsPath", "; ".join(failures))


def _paths_from_state(state_dir: str) -> list[str]:
    with open(os.path.join(state_dir, "state.json")) as f:
        state = jsonlite.loads(f.read())
    return [path for op in state.get("teardown") or [] if op.get("kind") == REMOVE_KIND
            for path in op.get("args", {}).get("cgroups", [])]


def cgroup_pids(state_dir_or_paths: str | Iterable[str]) -> list[int]:
    """The pids in the container's cgroups (and their child cgroups), sorted.

    Pass the container's state directory (its state.json records the cgroups in the
    ``cgroup-remove`` teardown op) or the cgroup directories themselves.
    """
    if isinstance(state_dir_or_paths, str):
        paths = _paths_from_state(state_dir_or_paths)
    else:
        paths = list(state_dir_or_paths)
    found: set[int] = set()
    for path in paths:
        found.update(cgfs.procs(path))
    return sorted(found)
