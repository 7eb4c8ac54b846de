"""The ``limpet.plugins`` entry points, with a cache so that a verb does not scan every
installed distribution (importlib.metadata and the email parser it imports: ~15 ms).

The cache is a JSON file in the state root (``@entry-points.json``). It is keyed by
``sys.path`` and the modification times of its directories (installing, upgrading or
removing a distribution adds or removes a directory there) and of the entry_points.txt of
every distribution that provides a limpet plugin. Any difference, or an unreadable file,
means a fresh scan (and a new cache file, written atomically).
"""

from __future__ import annotations

import os
import sys

from . import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CACHE_NAME = "@entry-points.json"
VERSION = 1


class Dist:
    """The distribution an entry point comes from (name and version)."""

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version


class CachedEntryPoint:
    """What the plugin manager uses of an ``importlib.metadata.EntryPoint``."""

    def __init__(self, name: str, value: str, dist: Dist | None) -> None:
        self.name = name
        self.value = value
        self.dist = dist

    def load(self) -> Any:
        return resolve(self.value)


def resolve(target: str) -> Any:
    """What an entry point's ``module:attr.attr`` names, the module imported now (with
    ``__import__``: importlib itself costs ~1 ms to import)."""
    module_name, _, attrs = target.partition(":")
    module_name = module_name.strip()
    __import__(module_name)
    found: Any = sys.modules[module_name]
    for attr in filter(None, attrs.strip().split(".")):
        found = getattr(found, attr)
    return found


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _path_key() -> list[Any]:
    return [[entry, _mtime(entry or ".")] for entry in sys.path]


def scan(group: str) -> tuple[list[Any], list[list[Any]]]:
    """The entry points of ``group`` (importlib.metadata) and the files they came from."""
    from importlib import metadata

    found = list(metadata.entry_points(group=group))
    files = []
    for ep in found:
        base = getattr(ep.dist, "_path", None)
        if base is not None:
            path = os.path.join(str(base), "entry_points.txt")
            files.append([path, _mtime(path)])
    return found, files


def load(group: str, cache_dir: str | None, on_scan: Callable[[], Any] | None = None) \
        -> list[Any]:
    """The entry points of ``group``: from the cache in ``cache_dir`` when it is current,
    else scanned (and cached, if ``cache_dir`` is given); ``on_scan`` is called before a
    scan. The cache is keyed by ``sys.path`` as it was on the call."""
    path = os.path.join(cache_dir, CACHE_NAME) if cache_dir else None
    key = {"version": VERSION, "group": group, "path": _path_key()}
    if path is not None:
        cached = _read(path, key)
        if cached is not None:
            return cached
    if on_scan is not None:
        on_scan()
    found, files = scan(group)
    if path is not None:
        entries = [{"name": ep.name, "value": ep.value,
                    "dist": [ep.dist.name, ep.dist.version] if ep.dist is not None else None}
                   for ep in found]
        _write(path, {**key, "files": files, "entries": entries})
    return found


def _read(path: str, key: dict[str, Any]) -> list[CachedEntryPoint] | None:
    try:
        with open(path, "rb") as f:
            data = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in key.items()):
        return None
    try:
        if any(_mtime(p) != mtime for p, mtime in data["files"]):
            return None
        return [CachedEntryPoint(e["name"], e["value"],
                                 Dist(*e["dist"]) if e["dist"] else None)
                for e in data["entries"]]
    except (KeyError, TypeError, ValueError):
        return None


def _write(path: str, data: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written only costs the next scan."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
        with open(tmp, "w") as f:
            f.write(jsonlite.dumps(data))
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
