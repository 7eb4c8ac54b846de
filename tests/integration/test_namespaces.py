"""linux.namespaces from inside real containers (config-linux.md#namespaces): new
namespaces differ from the host's, joined ones equal the target's; id maps; time offsets;
hostname and domainname."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root

NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user", "time": "time"}


def _host_inode(kind: str) -> str:
    return str(os.stat(f"/proc/self/ns/{NS_FILES[kind]}").st_ino)


def _inodes_script() -> str:
    return "; ".join(f"echo {k} $(stat -L -c %i /proc/self/ns/{f})"
                     for k, f in NS_FILES.items())


def _parse(output: str) -> dict[str, str]:
    return dict(line.split() for line in output.splitlines() if len(line.split()) == 2)


def test_new_namespaces_differ_from_the_host(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"] += [{"type": "cgroup"}, {"type": "time"}]
    result = run_in(limpet, bundle, _inodes_script())
    assert result.returncode == 0, result.stderr
    inodes = _parse(result.stdout)
    for kind in ("pid", "network", "ipc", "uts", "mount", "cgroup", "time"):
        assert inodes[kind] != _host_inode(kind), kind
    assert inodes["user"] == _host_inode("user")


def test_program_is_pid_1_of_its_pid_namespace(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = result.stdout.split()
    assert pid == "1"
    assert int(count) <= 3   # sh, ls, grep: nothing of the host is visible


def test_hostname_and_domainname_are_set(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "limpet-box"
    bundle.config["domainname"] = "example.test"
    result = run_in(limpet, bundle, "hostname; cat /proc/sys/kernel/domainname")
    assert result.stdout.split() == ["limpet-box", "example.test"]
    assert os.uname().nodename != "limpet-box"


def test_loopback_is_up_in_a_new_network_namespace(limpet: Runtime, bundle: Bundle) -> None:
    result = run_in(limpet, bundle, "cat /sys/class/net/lo/operstate; ls /sys/class/net")
    assert result.stdout.split()[-1] == "lo"


def test_joined_namespaces_equal_the_targets(limpet: Runtime, bundle: Bundle,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    bundle.set_args("/bin/sleep", "60").write()
    limpet("run", "-d", "--bundle", str(bundle.path), "target", check=True)
    target_pid = limpet.state("target")["pid"]
    expected = {k: str(os.stat(f"/proc/{target_pid}/ns/{NS_FILES[k]}").st_ino)
                for k in ("network", "ipc", "uts", "pid")}
    joiner = Bundle(tmp_path_factory.mktemp("joiner"), dict(bundle.config))
    joiner.config = {**bundle.config, "hostname": None}
    joiner.config.pop("hostname")
    joiner.config["linux"] = {**bundle.config["linux"], "namespaces": [
        {"type": "mount"},
        {"type": "network", "path": f"/proc/{target_pid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{target_pid}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{target_pid}/ns/uts"},
        {"type": "pid", "path": f"/proc/{target_pid}/ns/pid"},
    ]}
    result = run_in(limpet, joiner, _inodes_script() + "; echo self $$")
    assert result.returncode == 0, result.stderr
    inodes = _parse(result.stdout)
    for kind, inode in expected.items():
        assert inodes[kind] == inode, kind
    assert inodes["self"] != "1"   # the target's sleep is PID 1 of that namespace


def test_user_namespace_maps_ids(limpet: Runtime, bundle: Bundle,
                                 world_readable_rootfs: str) -> None:
    bundle.config["root"]["path"] = world_readable_rootfs
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000,
                                              "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000,
                                              "size": 65536}]
    result = run_in(limpet, bundle, "cat /proc/self/uid_map /proc/self/gid_map; id -u")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["0", "100000", "65536"]
    assert lines[1] == ["0", "100000", "65536"]
    assert lines[2] == ["0"]


def test_time_namespace_offsets_shift_the_clocks(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400 * 365,
                                                           "nanosecs": 0}}
    result = run_in(limpet, bundle, "cat /proc/uptime; cat /proc/self/timens_offsets")
    assert result.returncode == 0, result.stderr
    assert "monotonic" in result.stdout and "31536000" in result.stdout
    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert host_uptime < 86400 * 365


def test_processes_left_by_the_test_are_gone(limpet: Runtime) -> None:
    time.sleep(0)  # the fixture's teardown deletes everything; nothing to assert here
    assert limpet.containers() == []
