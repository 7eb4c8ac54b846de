"""Bad input: each a clear error naming the config path or argument, a non-zero exit, and
nothing left behind (no state dir, mount or process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime

pytestmark = pytest.mark.root


def _leftovers(limpet: Runtime) -> list[str]:
    found = [f"state dir {d}" for d in limpet.containers()]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line for line in mounts.splitlines() if limpet.root in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if limpet.root.encode() in cmdline:
            found.append(f"process {pid}: {cmdline.decode(errors='replace')}")
    return found


def _create_fails(limpet: Runtime, bundle: Bundle, *expected: str) -> str:
    result = limpet("create", "--bundle", str(bundle.path), "bad")
    assert result.returncode != 0
    for text in expected:
        assert text in result.stderr, result.stderr
    assert _leftovers(limpet) == []
    return result.stderr


def test_invalid_json(limpet: Runtime, bundle: Bundle) -> None:
    (bundle.path / "config.json").write_text('{"ociVersion": "1.3.0",')
    _create_fails(limpet, bundle, "config.json: invalid JSON at line 1")


def test_missing_bundle_config(limpet: Runtime, tmp_path: Path) -> None:
    result = limpet("create", "--bundle", str(tmp_path / "nowhere"), "bad")
    assert result.returncode != 0
    assert "--bundle" in result.stderr and "config.json" in result.stderr


def test_missing_rootfs(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["root"]["path"] = "no-such-rootfs"
    bundle.write()
    _create_fails(limpet, bundle, "root.path:", "no-such-rootfs: no such directory")


def test_unknown_namespace_type(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "foo"})
    bundle.write()
    _create_fails(limpet, bundle, "linux.namespaces[5].type", 'unknown namespace type "foo"')


def test_duplicate_namespace(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "pid"})
    bundle.write()
    _create_fails(limpet, bundle, "linux.namespaces[5].type", 'duplicate namespace "pid"')


def test_namespace_path_that_does_not_exist(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"][1] = {"type": "network",
                                               "path": "/proc/999999999/ns/net"}
    bundle.write()
    _create_fails(limpet, bundle, "linux.namespaces[1].path")


def test_namespace_path_of_the_wrong_type(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/ipc"}
    bundle.write()
    _create_fails(limpet, bundle, "linux.namespaces[1].path",
                  "cannot join network namespace")


def test_relative_mount_destination(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["mounts"].append({"destination": "relative/dir", "type": "tmpfs",
                                    "source": "tmpfs"})
    bundle.write()
    _create_fails(limpet, bundle, "mounts[7].destination", "must be an absolute path")


def test_mount_destination_symlinked_out_of_the_rootfs(limpet: Runtime, bundle: Bundle,
                                                       tmp_path: Path) -> None:
    own = tmp_path / "rootfs"
    os.system(f"cp -a {bundle.config['root']['path']} {own}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (own / "escape").symlink_to(str(outside))
    bundle.config["root"]["path"] = str(own)
    bundle.config["mounts"].append({"destination": "/escape/x", "type": "tmpfs",
                                    "source": "tmpfs"})
    bundle.write()
    _create_fails(limpet, bundle, "mounts[7].destination",
                  "resolves outside the container's root filesystem")
    assert list(outside.iterdir()) == []


def test_bad_value_type_names_the_path(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"]["uid"] = "0"
    bundle.write()
    _create_fails(limpet, bundle, "process.user.uid")


def test_unhandled_field_names_the_path(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["intelRdt"] = {"closID": "x"}
    bundle.write()
    _create_fails(limpet, bundle, "linux.intelRdt: no enabled plugin handles this")


def test_unknown_property_is_ignored(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["someFutureField"] = {"x": 1}
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    result = limpet("--debug", "run", "--bundle", str(bundle.path), "future")
    assert result.returncode == 0, result.stderr
    assert "linux.someFutureField" in result.stderr


@pytest.mark.parametrize(("program", "words"), [
    ("nosuchprogram", 'exec: "nosuchprogram": executable file not found in $PATH'),
    ("/bin/nosuchprogram", "no such file or directory"),
    ("/etc/passwd", "permission denied"),
])
def test_missing_or_non_executable_program_uses_runc_wording(
        limpet: Runtime, bundle: Bundle, program: str, words: str) -> None:
    bundle.set_args(program).write()
    stderr = _create_fails(limpet, bundle, words)
    assert "process.args[0]" not in stderr.splitlines()[0] or words in stderr


def test_failure_inside_the_init_rolls_back(limpet: Runtime, bundle: Bundle) -> None:
    # /proc/kcore cannot be a bind source for a directory mount point: fails in the init.
    bundle.config["mounts"].append({"destination": "/sys/fs/nope", "type": "nosuchfs",
                                    "source": "x"})
    bundle.write()
    _create_fails(limpet, bundle, "mounts[7]")


def test_unknown_config_yaml_key_names_key_and_line(limpet: Runtime, bundle: Bundle,
                                                    tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("backends: {}\nplugins:\n  blok: [devices]\n")
    limpet.config_file = str(config)
    bundle.write()
    stderr = _create_fails(limpet, bundle, f"{config}:3", "blok")
    assert "unknown key" in stderr


def test_state_of_unknown_container(limpet: Runtime) -> None:
    result = limpet("state", "ghost")
    assert result.returncode != 0
    assert "container ghost does not exist" in result.stderr


def test_invalid_container_id(limpet: Runtime, bundle: Bundle) -> None:
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), "../escape")
    assert result.returncode != 0
    assert "invalid container id" in result.stderr
    assert json.dumps(_leftovers(limpet)) == "[]"


def test_idmap_refused_by_the_kernel_names_the_mount(limpet: Runtime, bundle: Bundle) -> None:
    """sysfs cannot be id-mapped: the kernel's EINVAL comes back naming the mount, with a
    hint, and the user namespace made for the mapping is gone with everything else."""
    bundle.config["mounts"].append({
        "destination": "/kernel", "type": "bind", "source": "/sys/kernel",
        "options": ["rbind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]})
    bundle.write()
    where = f"mounts[{len(bundle.config['mounts']) - 1}]"
    _create_fails(limpet, bundle, f"{where}: /sys/kernel: the kernel refused to id-map",
                  "may not support id-mapped mounts")
