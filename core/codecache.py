"""The compiled code of every limpet module in one file, for the verbs' imports.

A verb imports ~90 limpet modules. Through the standard path finder each costs four or five
file system calls (the directory, the source's stat, the .pyc's open, read and close) and
~100 us of importlib's own bookkeeping: ~5 ms of ``create``. Here the code objects of the
whole package are compiled at install time into one file (``scripts/setup.sh`` runs
``python -m limpet.core.codecache``), and :func:`install` puts a finder first on
``sys.meta_path`` that serves a module from it with one ``stat`` (its source must be the
one compiled: same size and modification time, else the standard finders take over) and
one ``pread``.

The file is ``limpet/__pycache__/codecache.<cache tag>.bin``, near the .pyc files it stands
for and with the same trust: written by whoever installed the package. Layout: the
8-byte signature, the interpreter's bytecode magic number (another interpreter ignores the
file), the index's length (4 bytes, little endian), the marshalled index
``{module: (path relative to the package's parent, is package, mtime_ns, size, offset,
length)}``, then the marshalled code objects.
"""

from __future__ import annotations

import marshal
import os
import sys
from _frozen_importlib_external import (  # importlib's own, already loaded at start-up
    MAGIC_NUMBER,
    SourceFileLoader,
    spec_from_file_location,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

SIGNATURE = b"limpetcc"
PACKAGE = "limpet"


def package_dir() -> str:
    """The directory of the installed ``limpet`` (a namespace package: that of
    ``limpet.core``'s parent)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cache_path(pkg_dir: str | None = None) -> str:
    """Where the code cache of the package in ``pkg_dir`` (default: this one) lives."""
    return os.path.join(pkg_dir or package_dir(), "__pycache__",
                        f"codecache.{sys.implementation.cache_tag}.bin")


class CachedLoader(SourceFileLoader):
    """A source file loader whose code comes from the cache (everything else: importlib's
    own, so ``__file__``, resources and tracebacks are those of the source file)."""

    def __init__(self, fullname: str, path: str, finder: CodeCacheFinder, offset: int,
                 length: int) -> None:
        super().__init__(fullname, path)
        self._where = (finder, offset, length)

    def get_code(self, fullname: str) -> CodeType | None:
        finder, offset, length = self._where
        if finder.fd < 0:   # the cache was closed (:func:`close`): from the source, then
            return super().get_code(fullname)
        code: CodeType = marshal.loads(os.pread(finder.fd, length, offset))
        return code


class CodeCacheFinder:
    """Finds the modules of the cache whose source is unchanged since it was built."""

    def __init__(self, fd: int, base: str, index: dict[str, tuple[str, bool, int, int, int,
                                                                   int]], data_start: int):
        self.fd = fd
        self.base = base
        self.index = index
        self.data_start = data_start

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        entry = self.index.get(name)
        if entry is None:
            return None
        rel, is_package, mtime_ns, size, offset, length = entry
        source = f"{self.base}/{rel}"
        directory = os.path.dirname(source)
        if path is not None and directory not in path:
            return None   # the parent package is another copy of limpet
        try:
            st = os.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None
        loader = CachedLoader(name, source, self, self.data_start + offset, length)
        return spec_from_file_location(name, source, loader=loader,
                                       submodule_search_locations=[directory] if is_package
                                       else None)


def install(pkg_dir: str | None = None) -> bool:
    """Serve limpet's modules from the cache, if there is one for this interpreter (the fd
    stays open, close-on-exec, for the imports of the process and of the init it forks)."""
    if any(isinstance(f, CodeCacheFinder) for f in sys.meta_path):
        return True
    pkg_dir = pkg_dir or package_dir()
    try:
        fd = os.open(cache_path(pkg_dir), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.pread(fd, 16, 0)
        if len(head) != 16 or head[:8] != SIGNATURE or head[8:12] != MAGIC_NUMBER:
            raise ValueError("not a code cache of this interpreter")
        length = int.from_bytes(head[12:16], "little")
        index = marshal.loads(os.pread(fd, length, 16))
    except (OSError, ValueError, EOFError, TypeError):
        os.close(fd)
        return False
    sys.meta_path.insert(0, CodeCacheFinder(fd, os.path.dirname(pkg_dir), index, 16 + length))
    return True


def close() -> None:
    """Stop serving from the cache and close its fd (the init does, before any container
    phase: no host file stays open in the container, even one close-on-exec)."""
    for finder in [f for f in sys.meta_path if isinstance(f, CodeCacheFinder)]:
        sys.meta_path.remove(finder)
        fd, finder.fd = finder.fd, -1
        try:
            os.close(fd)
        except OSError:
            pass


def build(pkg_dir: str | None = None, out: str | None = None) -> int:
    """Compile every module of the package in ``pkg_dir`` into its code cache (written
    atomically); returns how many modules it holds."""
    pkg_dir = os.path.abspath(pkg_dir or package_dir())
    base = os.path.dirname(pkg_dir)
    out = out or cache_path(pkg_dir)
    index: dict[str, tuple[str, bool, int, int, int, int]] = {}
    blobs: list[bytes] = []
    offset = 0
    for directory, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d.isidentifier())
        for filename in sorted(files):
            stem, ext = os.path.splitext(filename)
            if ext != ".py" or not stem.isidentifier():
                continue
            source = os.path.join(directory, filename)
            rel = os.path.relpath(source, base)
            parts = rel[:-3].split(os.sep)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            with open(source, "rb") as f:
                st = os.fstat(f.fileno())
                code = compile(f.read(), source, "exec", dont_inherit=True)
            blob = marshal.dumps(code)
            index[name] = (rel, is_package, st.st_mtime_ns, st.st_size, offset, len(blob))
            blobs.append(blob)
            offset += len(blob)
    head = marshal.dumps(index)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(SIGNATURE + MAGIC_NUMBER + len(head).to_bytes(4, "little") + head)
        f.write(b"".join(blobs))
    os.rename(tmp, out)
    return len(index)


if __name__ == "__main__":
    if os.path.basename(package_dir()) != PACKAGE:   # an editable install maps the sources
        print(f"codecache: {package_dir()} is not an installed limpet package: nothing built")
    else:
        count = build()
        print(f"codecache: {count} modules in {cache_path()}")
