"""Filesystems from inside real containers: root, mounts[] and their options, masked and
read-only paths, pivot_root and --no-pivot (config.md#root, #mounts; config-linux.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root


def _mount_options(mounts: str, target: str) -> set[str]:
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1] == target:
            return set(fields[3].split(","))
    raise AssertionError(f"{target} is not mounted:\n{mounts}")


def test_readonly_root_rejects_writes(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "touch /etc/x 2>&1; echo rc=$?; cat /proc/self/mounts")
    assert "Read-only file system" in result.stdout
    assert "ro" in _mount_options(result.stdout, "/")


def test_writable_root_when_not_readonly(limpet: Runtime, bundle: Bundle,
                                         tmp_path: Path) -> None:
    rootfs = Path(bundle.config["root"]["path"])
    own = tmp_path / "own-rootfs"
    os.system(f"cp -a {rootfs} {own}")
    bundle.config["root"] = {"path": str(own), "readonly": False}
    result = run_in(limpet, bundle, "echo hi > /written && cat /written")
    assert result.stdout == "hi\n"
    assert (own / "written").read_text() == "hi\n"


def test_relative_root_path_is_relative_to_the_bundle(limpet: Runtime, bundle: Bundle) -> None:
    (bundle.path / "rootfs").symlink_to(bundle.config["root"]["path"])
    bundle.config["root"]["path"] = "rootfs"
    assert run_in(limpet, bundle, "echo ok").stdout == "ok\n"


def test_default_mounts_have_their_flags(limpet: Runtime, bundle: Bundle) -> None:
    mounts = run_in(limpet, bundle, "cat /proc/self/mounts").stdout
    assert {"rw", "nosuid", "noexec", "nodev"} <= _mount_options(mounts, "/dev/shm")
    assert {"ro", "nosuid", "noexec", "nodev"} <= _mount_options(mounts, "/sys")
    assert "nosuid" in _mount_options(mounts, "/dev")
    assert {"nosuid", "noexec"} <= _mount_options(mounts, "/dev/pts")
    assert "ro" in _mount_options(mounts, "/sys/fs/cgroup")
    assert _mount_options(mounts, "/proc")


def test_bind_mount_with_options(limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data").write_text("from host\n")
    bundle.config["mounts"].append({"destination": "/mnt/data", "type": "bind",
                                    "source": str(shared),
                                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
    result = run_in(limpet, bundle, "cat /mnt/data/data; touch /mnt/data/x 2>&1; "
                                    "cat /proc/self/mounts")
    assert result.stdout.startswith("from host\n")
    assert "Read-only file system" in result.stdout
    assert {"ro", "nosuid", "nodev", "noexec"} <= _mount_options(result.stdout, "/mnt/data")


def test_relative_bind_source_is_relative_to_the_bundle(limpet: Runtime, bundle: Bundle) -> None:
    (bundle.path / "payload").mkdir()
    (bundle.path / "payload" / "f").write_text("bundle relative\n")
    bundle.config["mounts"].append({"destination": "/payload", "type": "bind",
                                    "source": "payload", "options": ["bind"]})
    assert run_in(limpet, bundle, "cat /payload/f").stdout == "bundle relative\n"


def test_file_bind_mount_creates_the_destination(limpet: Runtime, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    source = tmp_path / "hosts"
    source.write_text("127.0.0.1 limpet\n")
    bundle.config["mounts"].append({"destination": "/etc/hosts-test", "type": "bind",
                                    "source": str(source), "options": ["bind", "ro"]})
    assert run_in(limpet, bundle, "cat /etc/hosts-test").stdout == "127.0.0.1 limpet\n"


def test_tmpfs_with_size_and_mode(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["size=1m", "mode=700"]})
    result = run_in(limpet, bundle, "stat -c %a /scratch; cat /proc/self/mounts")
    assert result.stdout.splitlines()[0] == "700"
    assert "size=1024k" in _mount_options(result.stdout, "/scratch")


def test_recursive_readonly_applies_to_submounts(limpet: Runtime, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    bundle.config["mounts"].append({"destination": "/rro", "type": "bind",
                                    "source": "/dev", "options": ["rbind", "rro"]})
    result = run_in(limpet, bundle, "cat /proc/self/mounts")
    assert "ro" in _mount_options(result.stdout, "/rro")
    assert "ro" in _mount_options(result.stdout, "/rro/shm")


def test_nosymfollow_and_propagation(limpet: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    src = tmp_path / "nsf"
    src.mkdir()
    (src / "target").write_text("t\n")
    (src / "link").symlink_to("target")
    bundle.config["mounts"].append({"destination": "/nsf", "type": "bind",
                                    "source": str(src),
                                    "options": ["bind", "nosymfollow", "rprivate"]})
    result = run_in(limpet, bundle, "cat /nsf/link 2>&1; cat /nsf/target")
    assert "t\n" in result.stdout
    assert result.stdout.splitlines()[0] != "t"   # following the link was refused


def test_tmpcopyup_keeps_the_image_content(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["mounts"].append({"destination": "/etc", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["tmpcopyup"]})
    result = run_in(limpet, bundle, "cat /etc/group | head -1; echo new > /etc/new; "
                                    "cat /etc/new")
    assert result.stdout == "root:x:0:\nnew\n"


def test_masked_paths_are_unreadable(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l")
    assert result.stdout.split() == ["0", "0"]


def test_readonly_paths_reject_writes(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "(echo 1 > /proc/sys/kernel/domainname) 2>&1; "
                                    "cat /proc/self/mounts")
    assert "Read-only file system" in result.stdout
    assert "ro" in _mount_options(result.stdout, "/proc/sys")


def test_no_pivot_still_confines_the_root(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/sh", "-c", "ls /; cat /proc/self/mounts | head -1").write()
    result = limpet("run", "--no-pivot", "--bundle", str(bundle.path), "nopivot")
    assert result.returncode == 0, result.stderr
    assert "busybox" not in result.stdout.split()  # we see the rootfs, not the host
    assert "bin" in result.stdout.split()


def test_host_mount_table_is_untouched(limpet: Runtime, bundle: Bundle) -> None:
    before = Path("/proc/self/mountinfo").read_text().count("\n")
    run_in(limpet, bundle, "true")
    assert Path("/proc/self/mountinfo").read_text().count("\n") == before


def test_symlinked_destination_in_root_mode(limpet: Runtime, bundle: Bundle, tmp_path: Path,
                                            ) -> None:
    own = tmp_path / "rootfs"
    os.system(f"cp -a {bundle.config['root']['path']} {own}")
    (own / "var").mkdir(exist_ok=True)
    (own / "run").mkdir()
    (own / "var" / "run").symlink_to("/run")   # as Debian images have it
    bundle.config["root"] = {"path": str(own), "readonly": True}
    bundle.config["mounts"].append({"destination": "/var/run/x", "type": "tmpfs",
                                    "source": "tmpfs"})
    config = tmp_path / "config.yaml"
    config.write_text("plugins:\n  options:\n    mounts: {symlinks: in-root}\n")
    limpet.config_file = str(config)
    result = run_in(limpet, bundle, "cat /proc/self/mounts")
    assert result.returncode == 0, result.stderr
    _mount_options(result.stdout, "/run/x")
    assert not Path("/run/x").exists()
