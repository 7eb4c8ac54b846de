"""/dev inside real containers (config-linux.md#devices, #default-devices)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root


def _stat_lines(output: str) -> dict[str, list[str]]:
    return {f[0]: f[1:] for f in (line.split("|") for line in output.splitlines()) if f}


def test_default_devices_exist_with_their_modes(limpet: Runtime, bundle: Bundle) -> None:
    names = ["null", "zero", "full", "random", "urandom", "tty"]
    script = "; ".join(f"stat -c '%n|%F|%t:%T|%a|%u:%g' /dev/{n}" for n in names)
    result = run_in(limpet, bundle, script)
    stats = _stat_lines(result.stdout)
    expected = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8",
                "urandom": "1:9", "tty": "5:0"}
    for name, numbers in expected.items():
        fields = stats[f"/dev/{name}"]
        major, minor = (int(x, 16) for x in fields[1].split(":"))
        assert f"{major}:{minor}" == numbers, name
        assert fields[0] == "character special file"
        assert fields[2:] == ["666", "0:0"]


def test_dev_links_point_into_proc(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "for l in fd stdin stdout stderr ptmx; do "
                                    "readlink /dev/$l; done")
    assert result.stdout.split() == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                                     "/proc/self/fd/2", "pts/ptmx"]


def test_default_devices_work(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "echo x > /dev/null && head -c 4 /dev/zero | wc -c && "
                                    "head -c 8 /dev/urandom | wc -c")
    assert result.stdout.split() == ["4", "8"]


def test_linux_devices_are_created_with_mode_and_owner(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620,
         "uid": 1000, "gid": 5},
        {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
        {"path": "/dev/pipe-test", "type": "p", "fileMode": 0o644},
        {"path": "/dev/sub/dir/null2", "type": "u", "major": 1, "minor": 3},
    ]
    script = "; ".join(f"stat -c '%n|%F|%t:%T|%a|%u:%g' {d['path']}"
                       for d in bundle.config["linux"]["devices"])
    result = run_in(limpet, bundle, script)
    assert result.returncode == 0, result.stderr
    stats = _stat_lines(result.stdout)
    assert stats["/dev/fuse"] == ["character special file", "a:e5", "620", "1000:5"]
    assert stats["/dev/loop-test"] == ["block special file", "7:c8", "600", "0:0"]
    assert stats["/dev/pipe-test"][0] == "fifo" and stats["/dev/pipe-test"][2] == "644"
    assert stats["/dev/sub/dir/null2"][:2] == ["character special file", "1:3"]


def test_existing_file_that_does_not_match_is_an_error(limpet: Runtime, bundle: Bundle,
                                                       tmp_path: Path) -> None:
    own = tmp_path / "rootfs"
    os.system(f"cp -a {bundle.config['root']['path']} {own}")
    (own / "etc" / "not-a-device").write_text("plain file\n")
    bundle.config["root"]["path"] = str(own)
    bundle.config["linux"]["devices"] = [
        {"path": "/etc/not-a-device", "type": "c", "major": 1, "minor": 3}]
    result = run_in(limpet, bundle, "true")
    assert result.returncode != 0
    assert "linux.devices[0]" in result.stderr
    assert "/etc/not-a-device exists and is a non-device file, not c 1:3" in result.stderr
    assert limpet.containers() == []


def test_bind_mounted_dev_null_is_not_recreated(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["mounts"].append({"destination": "/dev/null", "type": "bind",
                                    "source": "/dev/null", "options": ["bind"]})
    result = run_in(limpet, bundle, "cat /proc/self/mounts | grep -c ' /dev/null '")
    assert result.stdout.strip() == "1"
