"""The example third-party plugin examples/limpet-minimal-dev, without root.

The package is imported from its source directory and served to the plugin manager as an
entry point next to the built-in ones (``plugin_set`` fixture), so these tests need no
install; tests/integration/test_example_plugin.py installs it for real.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from limpet.core import config, plugins
from limpet.core.errors import ConfigError, ExecutionError, SpecError
from limpet.core.syscalls import Syscalls
from pydantic import ValidationError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "limpet-minimal-dev"
SWAP = """\
plugins:
  block: [devices]
  enable: [minimal-dev]
  options:
    minimal-dev: {nodes: [null, zero]}
"""


@pytest.fixture(scope="module")
def example() -> types.SimpleNamespace:
    """The example's modules, imported from examples/ (or from an install, if any)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE))
        import limpet_minimal_dev
        from limpet_minimal_dev import ops, plugin
    return types.SimpleNamespace(package=limpet_minimal_dev, plugin=plugin, ops=ops)


@pytest.fixture
def with_example(plugin_set: Any, example: types.SimpleNamespace) -> Any:
    """The built-in entry points plus ``minimal-dev`` (registered like any third party)."""
    return plugin_set.add("minimal-dev", example.plugin)


def load(path: Path, text: str | None) -> plugins.Plugins:
    if text is not None:
        path.write_text(text)
    runtime_config, doc, where = config.load(str(path))
    return plugins.load(runtime_config, doc, where)


def devices_phase(plan: Any) -> list[dict[str, Any]]:
    return [op.to_json() for op in plan.ops("devices")]


# --- declaration and options -----------------------------------------------------------------

def test_declaration_is_opt_in_and_claims_linux_devices(example: types.SimpleNamespace) -> None:
    info = example.plugin.limpet_declare()
    assert info.name == "minimal-dev"
    assert info.claims == ("linux.devices",)
    assert info.default_enabled is False
    assert info.version == example.package.__version__
    assert info.options is example.plugin.Options
    assert info.options.model_config.get("extra") == "forbid"


def test_op_kinds_are_namespaced_and_handlers_resolve(example: types.SimpleNamespace) -> None:
    handlers = example.plugin.limpet_op_handlers()
    assert set(handlers) == {"minimal-dev:mknod", "minimal-dev:links", "minimal-dev:audit"}
    for target in handlers.values():
        module, _, func = target.partition(":")
        assert module == "limpet_minimal_dev.ops"
        assert callable(getattr(example.ops, func))


def test_options_default_and_yaml_null(example: types.SimpleNamespace) -> None:
    options = example.plugin.Options
    assert options().nodes == ["null", "zero", "urandom"]
    # YAML reads a bare `null` as None: in this list it can only mean /dev/null.
    assert options.model_validate({"nodes": [None, "zero"]}).nodes == ["null", "zero"]
    assert options.model_validate({"nodes": []}).nodes == []


@pytest.mark.parametrize("raw", [{"nodez": ["null"]}, {"nodes": ["ptmx"]},
                                 {"nodes": ["zero", "zero"]}, {"nodes": "null"}])
def test_options_reject_bad_input(example: types.SimpleNamespace, raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        example.plugin.Options.model_validate(raw)


def test_handlers_module_is_lean() -> None:
    """The op handlers run in the container's init: no pydantic, pluggy, rich or ruamel."""
    code = ("import sys, limpet_minimal_dev.ops\n"
            "heavy = [m for m in ('pydantic', 'pluggy', 'rich', 'ruamel', 'limpet.core.spec',"
            " 'limpet_minimal_dev.plugin') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr


# --- loading next to the built-in plugins ----------------------------------------------------

def test_installed_but_not_enabled_changes_nothing(with_example: Any, tmp_path: Path) -> None:
    loaded = load(tmp_path / "config.yaml", None)
    assert "minimal-dev" in loaded.available
    assert "minimal-dev" not in loaded.loaded
    assert loaded.claims["linux.devices"] == "devices"


def test_swapped_in_by_config(with_example: Any, tmp_path: Path) -> None:
    loaded = load(tmp_path / "config.yaml", SWAP)
    assert "devices" not in loaded.loaded
    assert loaded.claims["linux.devices"] == "minimal-dev"
    assert loaded.handlers["minimal-dev:mknod"] == "limpet_minimal_dev.ops:mknod"
    assert "create-device" not in loaded.handlers
    assert loaded.options()["minimal-dev"].nodes == ["null", "zero"]


def test_enabled_without_blocking_devices_is_a_config_error(with_example: Any,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "config.yaml", "plugins:\n  enable: [minimal-dev]\n")
    message = str(info.value)
    assert "'devices'" in message and "'minimal-dev'" in message
    assert "linux.devices" in message


def test_unknown_option_names_key_and_line(with_example: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with pytest.raises(ConfigError) as info:
        load(path, SWAP.replace("nodes", "nodez"))
    assert str(info.value).startswith(f"{path}:5: ")
    assert "plugins.options.minimal-dev.nodez" in str(info.value)
    assert "'nodez'" in str(info.value)


def test_bad_node_name_names_item_and_line(with_example: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = SWAP.replace("{nodes: [null, zero]}", "\n      nodes:\n        - zero\n        - ptmx")
    with pytest.raises(ConfigError) as info:
        load(path, text)
    assert str(info.value).startswith(f"{path}:8: plugins.options.minimal-dev.nodes.1:")


# --- validate and plan ---------------------------------------------------------------------

def test_plan_creates_only_the_chosen_nodes(with_example: Any, unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text(SWAP)
    plan = unit_bundle.plan()
    ops = devices_phase(plan)
    assert {op["plugin"] for op in ops} == {"minimal-dev"}
    assert [op["kind"] for op in ops] == ["minimal-dev:mknod", "minimal-dev:mknod",
                                          "minimal-dev:links", "minimal-dev:audit"]
    nodes = {op["args"]["path"]: op["args"] for op in ops if op["kind"] == "minimal-dev:mknod"}
    assert list(nodes) == ["/dev/null", "/dev/zero"]
    assert (nodes["/dev/zero"]["major"], nodes["/dev/zero"]["minor"]) == (1, 5)
    assert nodes["/dev/null"]["fileMode"] == 0o666
    links = ops[2]["args"]["links"]
    assert set(links) == {"fd", "stdin", "stdout", "stderr"}   # no ptmx
    assert ops[3]["args"]["allowed"] == ["mqueue", "null", "pts", "shm", "zero"]
    every_op = [op for phase in plan.to_json()["phases"] for op in phase["ops"]]
    assert not [op for op in every_op if op.get("plugin") == "devices"]
    assert plan.to_json()["handlers"]["minimal-dev:audit"] == "limpet_minimal_dev.ops:audit"


def test_plan_default_nodes(with_example: Any, unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text("plugins:\n  block: [devices]\n"
                                       "  enable: [minimal-dev]\n")
    made = [op["args"]["path"] for op in devices_phase(unit_bundle.plan())
            if op["kind"] == "minimal-dev:mknod"]
    assert made == ["/dev/null", "/dev/zero", "/dev/urandom"]


def test_bundle_devices_and_mounts_win(with_example: Any, unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text(SWAP)
    unit_bundle.config["linux"]["devices"] = [
        {"type": "c", "path": "/dev/zero", "major": 1, "minor": 5, "fileMode": 0o600,
         "uid": 1000, "gid": 1000},
        {"type": "p", "path": "/dev/fifo"},
        {"type": "u", "path": "/dev/stdout", "major": 1, "minor": 3},
    ]
    unit_bundle.config["mounts"].append({"destination": "/dev/null", "type": "bind",
                                         "source": "/dev/null", "options": ["bind"]})
    ops = devices_phase(unit_bundle.plan())
    made = [(op["where"], op["args"]["path"]) for op in ops if op["kind"] == "minimal-dev:mknod"]
    assert made == [("linux.devices[0]", "/dev/zero"), ("linux.devices[1]", "/dev/fifo"),
                    ("linux.devices[2]", "/dev/stdout")]
    assert ops[0]["args"]["fileMode"] == 0o600 and ops[0]["args"]["uid"] == 1000
    assert "stdout" not in ops[-2]["args"]["links"]
    assert {"null", "zero", "fifo", "stdout"} <= set(ops[-1]["args"]["allowed"])


@pytest.mark.parametrize(("devices", "where", "words"), [
    ([{"type": "c", "path": "dev/fuse", "major": 10, "minor": 229}],
     "linux.devices[0].path", "absolute path"),
    ([{"type": "c", "path": "/dev/../etc/x", "major": 1, "minor": 3}],
     "linux.devices[0].path", "'..'"),
    ([{"type": "c", "path": "/dev/a", "major": 1, "minor": 3},
      {"type": "c", "path": "/dev/a", "major": 1, "minor": 5}],
     "linux.devices[1].path", "also linux.devices[0]"),
    ([{"type": "b", "path": "/dev/sda", "major": 8}], "linux.devices[0]", "major and minor"),
    ([{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "fileMode": 0o100666}],
     "linux.devices[0].fileMode", "file mode"),
    ([{"type": "x", "path": "/dev/x"}], "linux.devices[0].type", "c, b, u, p"),
])
def test_bad_linux_devices_name_the_path(with_example: Any, unit_bundle: Any,
                                         devices: list[dict[str, Any]], where: str,
                                         words: str) -> None:
    unit_bundle.config_file.write_text(SWAP)
    unit_bundle.config["linux"]["devices"] = devices
    with pytest.raises(SpecError) as info:
        unit_bundle.plan()
    assert info.value.where == where
    assert words in info.value.message


def test_masked_paths_need_dev_null(with_example: Any, unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text(SWAP.replace("[null, zero]", "[zero]"))
    with pytest.raises(SpecError) as info:
        unit_bundle.plan()
    assert info.value.where == "linux.maskedPaths"
    assert "plugins.options.minimal-dev.nodes" in info.value.message
    unit_bundle.config["linux"]["devices"] = [{"type": "c", "path": "/dev/null",
                                               "major": 1, "minor": 3}]
    unit_bundle.plan()                       # the bundle brings its own /dev/null
    del unit_bundle.config["linux"]["devices"]
    del unit_bundle.config["linux"]["maskedPaths"]
    unit_bundle.plan()                       # nothing to mask


# --- op handlers on a directory tree ----------------------------------------------------------

class Ctx:
    """The part of limpet's InitContext the handlers use, on a rootfs in tmp_path."""

    def __init__(self, rootfs: Path) -> None:
        self.rootfs = str(rootfs)
        self.new_user_namespace = False
        self.sys = Syscalls()


def test_mknod_fifo_and_links(example: types.SimpleNamespace, tmp_path: Path) -> None:
    ctx = Ctx(tmp_path)
    ops = example.ops
    ops.mknod(ctx, {"where": "linux.devices[0]", "path": "/dev/sub/fifo", "type": "p",
                    "fileMode": 0o640, "uid": os.getuid(), "gid": os.getgid()})
    st = os.stat(tmp_path / "dev" / "sub" / "fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    (tmp_path / "dev" / "stdin").write_text("kept")
    ops.links(ctx, {"where": "w", "links": {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0"}})
    assert os.readlink(tmp_path / "dev" / "fd") == "/proc/self/fd"
    assert (tmp_path / "dev" / "stdin").read_text() == "kept"
    assert not os.path.lexists(tmp_path / "dev" / "ptmx")
    ops.audit(ctx, {"where": "w", "allowed": []})   # a fifo, a file, links: no device node


def test_mknod_refuses_a_different_file(example: types.SimpleNamespace,
                                        tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "null").write_text("")
    with pytest.raises(ExecutionError) as info:
        example.ops.mknod(Ctx(tmp_path), {"where": "linux.devices[3]", "path": "/dev/null",
                                          "type": "c", "major": 1, "minor": 3})
    assert info.value.where == "linux.devices[3]"
    assert "/dev/null exists and is a regular file, not a device c 1:3" in info.value.message


def test_mknod_does_not_follow_symlinks_out_of_the_rootfs(example: types.SimpleNamespace,
                                                          tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "dev").symlink_to(tmp_path / "outside")
    (tmp_path / "outside").mkdir()
    with pytest.raises(ExecutionError) as info:
        example.ops.mknod(Ctx(rootfs), {"where": "linux.devices[0]", "path": "/dev/fifo",
                                        "type": "p"})
    assert info.value.where == "linux.devices[0]"
    assert not os.listdir(tmp_path / "outside")


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a char device needs root")
def test_mknod_and_audit_of_char_devices(example: types.SimpleNamespace,
                                         tmp_path: Path) -> None:
    ctx = Ctx(tmp_path)
    example.ops.mknod(ctx, {"where": "w", "path": "/dev/zero", "type": "c", "major": 1,
                            "minor": 5, "fileMode": 0o600, "uid": 1000, "gid": 5})
    st = os.stat(tmp_path / "dev" / "zero")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 5)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 5)
    example.ops.audit(ctx, {"where": "w", "allowed": ["zero"]})
    os.mknod(tmp_path / "dev" / "ptmx", stat.S_IFCHR | 0o666, os.makedev(5, 2))
    with pytest.raises(ExecutionError) as info:
        example.ops.audit(ctx, {"where": "plugins.options.minimal-dev.nodes",
                                "allowed": ["zero"]})
    assert "/dev/ptmx is a device c 5:2 that is not configured" in info.value.message
    assert info.value.hint and "linux.devices" in info.value.hint
