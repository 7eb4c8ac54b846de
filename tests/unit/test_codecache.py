"""The code cache (core/codecache.py): modules come from it only while their source is the
one compiled; anything else falls back to the standard import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import limpet.core.create
import pytest
from limpet.core import codecache

CHECK = """
import sys
sys.path.insert(0, {root!r})
from limpet.core import codecache
print(codecache.install({pkg!r}))
import demo.mod
print(type(demo.mod.__loader__).__name__, demo.mod.VALUE, demo.mod.__file__)
print(type(demo.__loader__).__name__, demo.__path__)
"""


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    pkg = tmp_path / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""demo"""\n')
    (pkg / "mod.py").write_text("VALUE = 1\n")
    return pkg


def run_check(pkg: Path) -> list[str]:
    code = CHECK.format(root=str(pkg.parent), pkg=str(pkg))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return out.splitlines()


def test_modules_come_from_the_cache(demo: Path) -> None:
    assert codecache.build(str(demo)) == 2
    installed, module, package = run_check(demo)
    assert installed == "True"
    assert module == f"CachedLoader 1 {demo / 'mod.py'}"
    assert package == f"CachedLoader [{str(demo)!r}]"


def test_a_changed_source_is_imported_from_the_source(demo: Path) -> None:
    codecache.build(str(demo))
    (demo / "mod.py").write_text("VALUE = 22\n")
    _, module, package = run_check(demo)
    assert module.startswith("SourceFileLoader 22 ")
    assert package.startswith("CachedLoader ")


def test_a_cache_of_another_interpreter_is_ignored(demo: Path) -> None:
    codecache.build(str(demo))
    path = codecache.cache_path(str(demo))
    data = bytearray(Path(path).read_bytes())
    data[8:12] = b"\0\0\r\n"   # another bytecode magic number
    Path(path).write_bytes(bytes(data))
    installed, module, _ = run_check(demo)
    assert installed == "False"
    assert module.startswith("SourceFileLoader 1 ")


def test_no_cache_means_the_standard_import(demo: Path) -> None:
    installed, module, _ = run_check(demo)
    assert installed == "False"
    assert module.startswith("SourceFileLoader 1 ")
    assert not os.path.exists(codecache.cache_path(str(demo)))


def test_the_install_built_the_cache_the_launcher_uses() -> None:
    """scripts/setup.sh builds it; the limpet command imports create's modules from it."""
    assert os.path.exists(codecache.cache_path())
    site_packages = str(Path(limpet.core.create.__file__).parents[2])
    code = (f"import sys; sys.path.append({site_packages!r}); "
            "from limpet.core.codecache import install; install(); "
            "import limpet.core.create, limpet.plugins.cgroups.plugin as p; "
            "print(type(limpet.core.create.__loader__).__name__, type(p.__loader__).__name__)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.split() == ["CachedLoader", "CachedLoader"]


def test_after_close_modules_come_from_the_source(demo: Path) -> None:
    """The init closes the cache before its container phases: a later import, even of a
    module the closed cache had found, still works."""
    codecache.build(str(demo))
    (demo / "late.py").write_text("VALUE = 3\n")
    codecache.build(str(demo))
    code = (f"import sys; sys.path.insert(0, {str(demo.parent)!r}); "
            "from limpet.core import codecache; "
            f"codecache.install({str(demo)!r}); "
            "spec = [f for f in sys.meta_path if isinstance(f, codecache.CodeCacheFinder)]"
            "[0].find_spec('demo.late', None); "
            "codecache.close(); "
            "print(any(isinstance(f, codecache.CodeCacheFinder) for f in sys.meta_path)); "
            "import demo.mod; print(type(demo.mod.__loader__).__name__); "
            "ns = {}; exec(spec.loader.get_code('demo.late'), ns); print(ns['VALUE'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["False", "SourceFileLoader", "3"]
