"""The example third-party plugin examples/limpet-minimal-dev, installed for real.

pip builds and installs the package (its own pyproject.toml, its own distribution) into a
private directory that is put on the ``limpet`` CLI's PYTHONPATH. limpet then finds it the
way it finds any plugin, built-in or not: through the ``limpet.plugins`` entry points of the
distributions on its path. No path of the core knows about it.

Why not ``pip install -e`` into the shared test venv: the venv is shared by every pytest
session on the machine, and one session's uninstall pulls the plugin from under another
one's containers ("cannot import limpet_minimal_dev.plugin"), while a session that started
before the install cannot import an editable package at all (its path hook is read at
interpreter start-up), so in-process ``plugins.load`` calls of later tests fail. A private
install changes nothing outside this module's own CLI runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "limpet-minimal-dev"
DIST = "limpet-minimal-dev"
DEFAULT_DEVICES = {"null", "zero", "full", "random", "urandom", "tty"}
SWAP = """\
plugins:
  block: [devices]
  enable: [minimal-dev]
  options:
    minimal-dev: {nodes: [null, zero]}
"""
#: Lists the char and block device nodes directly in /dev (not links), one path a line.
LIST_NODES = ('for d in /dev/* /dev/.[!.]*; do [ ! -L "$d" ] && [ -c "$d" -o -b "$d" ] '
              '&& echo "$d"; done; true')


def _version(name: str) -> tuple[int, ...]:
    try:
        text = metadata.version(name)
    except metadata.PackageNotFoundError:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def _install_command(source: Path, target: Path) -> list[str]:
    """pip install into ``target``, without build isolation (offline, fast) when this venv
    can build the wheel itself: setuptools >= 70.1 has bdist_wheel, older ones need
    ``wheel``; otherwise pip fetches the build requirements as ``make setup`` does."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
           "--disable-pip-version-check", "--target", str(target)]
    if _version("setuptools") >= (70, 1) or importlib.util.find_spec("wheel") is not None:
        cmd.append("--no-build-isolation")
    return [*cmd, str(source)]


@dataclass(frozen=True)
class Installed:
    """The example as installed for this session."""

    site: str       # the directory pip installed into; PYTHONPATH of the CLI
    version: str    # the distribution's version, from its installed metadata


@pytest.fixture(scope="session")
def minimal_dev(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pip-install the example into a private directory, once per session.

    It is built from a copy of examples/limpet-minimal-dev, so that the build leaves no
    build/ or egg-info behind in the work tree and concurrent sessions do not share one.
    """
    work = tmp_path_factory.mktemp("minimal-dev")
    source, site = work / "src", work / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    proc = subprocess.run(_install_command(source, site), cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"pip install {EXAMPLE} failed:\n{proc.stdout}\n{proc.stderr}")
    dist = next(d for d in metadata.distributions(path=[str(site)])
                if d.metadata["Name"] == DIST)
    return Installed(str(site), dist.version)


@pytest.fixture
def limpet(limpet: Runtime, minimal_dev: Installed) -> Runtime:
    """The ``limpet`` CLI of tests/conftest.py, with the example on its Python path."""
    limpet.extra_env["PYTHONPATH"] = minimal_dev.site
    return limpet


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def plugin_rows(limpet: Runtime) -> dict[str, dict[str, Any]]:
    result = limpet("plugins", "--format", "json", check=True)
    return {row["name"]: row for row in json.loads(result.stdout)}


def device_nodes(limpet: Runtime, bundle: Bundle) -> set[str]:
    result = run_in(limpet, bundle, LIST_NODES)
    assert result.returncode == 0, result.stderr
    return {line.removeprefix("/dev/") for line in result.stdout.split()}


# --- the plugin list -------------------------------------------------------------------------

def test_installed_plugin_is_listed_but_disabled(limpet: Runtime) -> None:
    rows = plugin_rows(limpet)
    assert rows["minimal-dev"]["enabled"] is False
    assert rows["minimal-dev"]["entry_point"] == "limpet_minimal_dev.plugin"
    assert rows["devices"]["enabled"] is True


def test_swapped_in_plugin_is_listed_with_its_distribution(limpet: Runtime, tmp_path: Path,
                                                           minimal_dev: Installed) -> None:
    limpet.config_file = write_config(tmp_path, SWAP)
    rows = plugin_rows(limpet)
    row = rows["minimal-dev"]
    assert row["enabled"] is True
    assert row["source"] == f"{DIST} {minimal_dev.version}"
    assert row["version"] == minimal_dev.version == "0.1.0"
    assert row["claims"] == ["linux.devices"]
    assert {"limpet_declare", "limpet_op_handlers", "limpet_validate",
            "limpet_plan"} <= set(row["hooks"])
    assert rows["devices"]["enabled"] is False


# --- containers ------------------------------------------------------------------------------

def test_container_has_only_the_configured_nodes(limpet: Runtime, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, SWAP)
    result = run_in(limpet, bundle, "ls /dev; echo ---; " + LIST_NODES +
                    "; echo x > /dev/null && head -c 3 /dev/zero | wc -c")
    assert result.returncode == 0, result.stderr
    listing, nodes = result.stdout.split("---")
    names = set(listing.split())
    assert {"null", "zero", "fd", "stdin", "stdout", "stderr", "pts"} <= names
    assert not names & {"full", "random", "urandom", "tty", "ptmx"}
    *node_lines, count = nodes.split()
    assert sorted(node_lines) == ["/dev/null", "/dev/zero"]
    assert count == "3"


def test_default_nodes_option(limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, "plugins:\n  block: [devices]\n"
                                                "  enable: [minimal-dev]\n")
    assert device_nodes(limpet, bundle) == {"null", "zero", "urandom"}


def test_builtin_devices_plugin_is_unaffected(limpet: Runtime, bundle: Bundle) -> None:
    """Installed but not enabled, the example changes nothing: the built-in makes all six."""
    assert device_nodes(limpet, bundle) == DEFAULT_DEVICES


def test_linux_devices_are_honoured(limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, SWAP)
    bundle.config["linux"]["devices"] = [
        {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 0o600,
         "uid": 1000, "gid": 5},
        {"type": "p", "path": "/dev/my/fifo", "fileMode": 0o640},
    ]
    result = run_in(limpet, bundle, "stat -c '%n %a %u %g %t %T %F' /dev/fuse /dev/my/fifo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "/dev/fuse 600 1000 5 a e5 character special file",
        "/dev/my/fifo 640 0 0 0 0 fifo",
    ]


def test_stray_node_in_rootfs_fails_create(limpet: Runtime, bundle: Bundle, rootfs: Path,
                                           tmp_path: Path) -> None:
    """Without a tmpfs on /dev, a node that the rootfs brings is caught by the audit op."""
    private = tmp_path / "rootfs"
    shutil.copytree(rootfs, private, symlinks=True)
    os.mknod(private / "dev" / "ptmx", stat.S_IFCHR | 0o666, os.makedev(5, 2))
    bundle.config["root"] = {"path": str(private), "readonly": False}
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] != "/dev"]
    limpet.config_file = write_config(tmp_path, SWAP)
    result = run_in(limpet, bundle, "true")
    assert result.returncode != 0
    assert "/dev/ptmx is a device c 5:2 that is not configured" in result.stderr
    assert limpet.containers() == []


# --- the plan --------------------------------------------------------------------------------

def test_plan_uses_the_plugins_own_op_kinds(limpet: Runtime, bundle: Bundle,
                                            tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, SWAP)
    plan = json.loads(limpet("plan", "--format", "json", str(bundle.write()), check=True).stdout)
    ops = [op for phase in plan["phases"] for op in phase["ops"]]
    assert not [op for op in ops if op.get("plugin") == "devices"]
    assert not {"create-device", "dev-links"} & {op["kind"] for op in ops}
    devices = next(phase for phase in plan["phases"] if phase["phase"] == "devices")
    assert {op["plugin"] for op in devices["ops"]} == {"minimal-dev"}
    made = [op["args"]["path"] for op in devices["ops"] if op["kind"] == "minimal-dev:mknod"]
    assert made == ["/dev/null", "/dev/zero"]
    assert plan["handlers"]["minimal-dev:mknod"] == "limpet_minimal_dev.ops:mknod"


# --- errors ----------------------------------------------------------------------------------

def test_enabling_without_blocking_devices_fails(limpet: Runtime, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, "plugins:\n  enable: [minimal-dev]\n")
    for result in (limpet("plugins"), run_in(limpet, bundle, "true")):
        assert result.returncode != 0
        assert "'devices'" in result.stderr and "'minimal-dev'" in result.stderr
        assert "linux.devices" in result.stderr
    assert limpet.containers() == []


def test_unknown_option_names_the_key_and_line(limpet: Runtime, bundle: Bundle,
                                               tmp_path: Path) -> None:
    limpet.config_file = write_config(tmp_path, SWAP.replace("nodes:", "nodez:"))
    result = run_in(limpet, bundle, "true")
    assert result.returncode != 0
    assert f"{limpet.config_file}:5: plugins.options.minimal-dev.nodez" in result.stderr
    assert "unknown key 'nodez'" in result.stderr
    assert limpet.containers() == []


@pytest.mark.parametrize(("devices", "where"), [
    ([{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229},
      {"type": "c", "path": "dev/relative", "major": 1, "minor": 3}], "linux.devices[1].path"),
    ([{"type": "b", "path": "/dev/sda"}], "linux.devices[0]: "),
    ([{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "fileMode": 0o4777}],
     "linux.devices[0].fileMode"),
])
def test_bad_linux_devices_entry_names_its_path(limpet: Runtime, bundle: Bundle,
                                                tmp_path: Path, devices: list[dict[str, Any]],
                                                where: str) -> None:
    limpet.config_file = write_config(tmp_path, SWAP)
    bundle.config["linux"]["devices"] = devices
    result = run_in(limpet, bundle, "true")
    assert result.returncode != 0
    assert where in result.stderr
    assert limpet.containers() == []
