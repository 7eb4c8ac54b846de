"""Control of a created container through its cgroups: what the verbs after ``create`` call
(lean: standard library and limpet.core; :func:`update` alone imports pydantic).

The core finds this module in state.json (``facts["control"]``, recorded by
``cgroup-create``) and calls it with the container's facts, so that another cgroups plugin
can offer the same functions:

- :func:`paused`: for ``state`` and ``list`` (status ``paused``);
- :func:`pause`, :func:`resume`: the freezer (:mod:`.freezer`);
- :func:`signal_all`: ``kill --all`` and ``delete``: ``cgroup.kill`` for SIGKILL on v2,
  otherwise freeze, signal every process, thaw (a forking process cannot escape);
- :func:`pids`: ``ps`` (every process of the container's cgroups, children included);
  :func:`orphans`: what ``delete`` kills in a stopped container's own cgroups;
- :func:`stats`, :func:`events`: ``events`` (:mod:`.stats`, :mod:`.events`);
- :func:`update`: ``update`` (:mod:`.update`).
"""

from __future__ import annotations

import os

from limpet.core.errors import ContainerError, ExecutionError

from . import cgfs, freezer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SIGKILL = 9   # signal.SIGKILL, without the signal module's enum import (state verb)


def _record(facts: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = facts.get("cgroups") or {}
    return record


def _dir_of(facts: dict[str, Any], controller: str) -> str | None:
    """The container's directory holding ``controller`` (v2: the only one)."""
    record = _record(facts)
    for d in record.get("dirs") or []:
        if record.get("driver") == "v2" or controller in (d.get("controllers") or ()):
            path: str = d["path"]
            return path
    return None


def _freezer(facts: dict[str, Any]) -> tuple[str, str]:
    driver = _record(facts).get("driver", "")
    directory = _dir_of(facts, "freezer")
    if directory is None:
        raise ContainerError(None, "cannot pause: the container's cgroups have no freezer "
                             "(the freezer cgroup v1 controller is not mounted)")
    return driver, directory


def paused(facts: dict[str, Any]) -> bool:
    directory = _dir_of(facts, "freezer")
    return directory is not None and freezer.is_frozen(_record(facts).get("driver", ""),
                                                       directory)


def pause(facts: dict[str, Any]) -> None:
    freezer.freeze(*_freezer(facts))


def resume(facts: dict[str, Any]) -> None:
    freezer.thaw(*_freezer(facts))


def pids(facts: dict[str, Any]) -> list[int]:
    found: set[int] = set()
    for d in _record(facts).get("dirs") or []:
        found.update(cgfs.procs(d["path"]))
    return sorted(found)


def orphans(facts: dict[str, Any]) -> list[int]:
    """Processes left in the container's cgroups after its init died (possible without a
    pid namespace of its own); none for a cgroup the container joined (not its own)."""
    return pids(facts) if _record(facts).get("owned") else []


def signal_all(facts: dict[str, Any], number: int) -> None:
    """Send ``number`` to every process in the container's cgroups."""
    driver = _record(facts).get("driver", "")
    directory = _dir_of(facts, "freezer")
    if driver == "v2" and number == SIGKILL and directory is not None and \
            os.path.exists(os.path.join(directory, "cgroup.kill")):
        try:
            cgfs.write(os.path.join(directory, "cgroup.kill"), "1", "kill --all")
            return
        except ExecutionError:
            pass   # fall back to signalling each process
    was_paused = directory is not None and freezer.is_frozen(driver, directory)
    frozen = False
    if directory is not None and not was_paused:
        try:
            freezer.freeze(driver, directory)
            frozen = True
        except ExecutionError:
            pass   # signal them anyway
    try:
        for pid in pids(facts):
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass
    finally:
        # a frozen v1 task dies only once thawed; keep a paused container paused otherwise
        if directory is not None and (frozen or (was_paused and number == SIGKILL)):
            freezer.thaw(driver, directory)


def stats(facts: dict[str, Any]) -> dict[str, Any]:
    from . import stats as collect

    record = _record(facts)
    if record.get("driver") == "v2":
        return collect.v2(record["dirs"][0]["path"])
    by_controller = {c: d["path"] for d in record.get("dirs") or []
                     for c in d.get("controllers") or ()}
    return collect.v1(by_controller)


def events(facts: dict[str, Any], container_id: str, interval: float,
           alive: Callable[[], bool], emit: Callable[[dict[str, Any]], None]) -> None:
    from . import events as watch

    watch.stream(_record(facts).get("driver", ""), _dir_of(facts, "memory"), container_id,
                 interval, lambda: stats(facts), alive, emit)


def update(facts: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Apply a LinuxResources ``request``; returns the facts to save."""
    from . import update as apply

    return {**facts, "cgroups": apply.update(facts, request)}
