"""Id-mapped bind mounts in real containers (config.md#mounts uidMappings/gidMappings and the
idmap/ridmap options): the owners seen inside, the owners of what the container writes, and
which submounts the mapping reaches. The source is on this host's ext4 /tmp."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root

UID = [{"containerID": 0, "hostID": 1000, "size": 100}]
GID = [{"containerID": 0, "hostID": 2000, "size": 100}]


def owned(path: Path, uid: int, gid: int, text: str = "") -> Path:
    path.write_text(text)
    os.chown(path, uid, gid)
    return path


def source_dir(path: Path) -> Path:
    path.mkdir()
    os.chmod(path, 0o755)
    return path


def bind(bundle: Bundle, destination: str, source: Path, *options: str,
         mapped: bool = True) -> None:
    mount = {"destination": destination, "type": "bind", "source": str(source),
             "options": list(options)}
    if mapped:
        mount.update(uidMappings=UID, gidMappings=GID)
    bundle.config["mounts"].append(mount)


def test_mount_mappings_shift_owners_both_ways(limpet: Runtime, bundle: Bundle,
                                               tmp_path: Path) -> None:
    src = source_dir(tmp_path / "src")
    owned(src / "root-file", 0, 0, "r\n")
    owned(src / "other-file", 5, 7)
    bind(bundle, "/m", src, "bind", "idmap")
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 2000}
    result = run_in(limpet, bundle, "stat -c '%u:%g %n' /m/root-file /m/other-file; "
                    "cat /m/root-file; touch /m/made-inside && echo made; "
                    "grep ' /m ' /proc/self/mountinfo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["1000:2000 /m/root-file", "1005:2007 /m/other-file", "r", "made"]
    assert "idmapped" in lines[4]
    # what uid 1000 wrote through the mapping is uid 0 on the disk; the source is unchanged
    made = (src / "made-inside").stat()
    assert (made.st_uid, made.st_gid) == (0, 0)
    assert (src / "other-file").stat().st_uid == 5


def test_idmap_without_mappings_takes_the_container_user_namespace(
        limpet: Runtime, bundle: Bundle, world_readable_rootfs: str, tmp_path: Path) -> None:
    """podman's `:idmap` volume: host-owned files appear owned by the container's root, and
    what that root writes lands as host root. The source sits in pytest's 0700 tmp dir,
    which the container's mapped root could not reach: the runtime opens it."""
    bundle.config["root"]["path"] = world_readable_rootfs
    os.mkdir(Path(world_readable_rootfs) / "data")
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    src = source_dir(tmp_path / "src")
    owned(src / "file", 0, 0, "host root's\n")
    bind(bundle, "/data", src, "rbind", "idmap", mapped=False)
    result = run_in(limpet, bundle, "stat -c %u:%g /data/file; cat /data/file; "
                    "stat -c %u /bin/busybox; echo new > /data/written && echo wrote")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["0:0", "host root's", "65534", "wrote"]
    written = (src / "written").stat()
    assert (written.st_uid, written.st_gid) == (0, 0)


@pytest.fixture
def source_with_submount(tmp_path: Path) -> Iterator[Path]:
    """``src/top`` (5:5) and a submount at ``src/sub`` holding ``f`` (6:6)."""
    src = source_dir(tmp_path / "src")
    owned(src / "top", 5, 5)
    (src / "sub").mkdir()
    other = source_dir(tmp_path / "other")
    owned(other / "f", 6, 6)
    subprocess.run(["mount", "--bind", str(other), str(src / "sub")], check=True)
    try:
        yield src
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


def test_ridmap_maps_submounts_and_idmap_only_the_top(limpet: Runtime, bundle: Bundle,
                                                      source_with_submount: Path) -> None:
    bind(bundle, "/flat", source_with_submount, "rbind", "idmap")
    bind(bundle, "/deep", source_with_submount, "rbind", "ridmap")
    result = run_in(limpet, bundle, "stat -c '%u %n' /flat/top /flat/sub/f /deep/top "
                    "/deep/sub/f")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1005 /flat/top", "6 /flat/sub/f",
                                          "1005 /deep/top", "1006 /deep/sub/f"]


def test_mapped_file_mount_and_options_after_the_mapping(limpet: Runtime, bundle: Bundle,
                                                         tmp_path: Path) -> None:
    """A single file can be id-mapped too, and the usual options apply to the mapped
    mount (here ro and nosuid)."""
    src = source_dir(tmp_path / "src")
    file = owned(src / "config", 3, 4, "setting\n")
    bind(bundle, "/etc/app.conf", file, "bind", "idmap", "ro", "nosuid")
    result = run_in(limpet, bundle, "stat -c %u:%g /etc/app.conf; cat /etc/app.conf; "
                    "grep ' /etc/app.conf ' /proc/self/mountinfo")
    assert result.returncode == 0, result.stderr
    owner, text, info = result.stdout.splitlines()
    assert (owner, text) == ("1003:2004", "setting")
    options = set(info.split()[5].split(","))
    assert {"ro", "nosuid", "idmapped"} <= options
