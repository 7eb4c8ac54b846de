"""linux.sysctl (config-linux.md#sysctl) without root: which keys are accepted for which
namespaces (runc's rules), the plan op in the "sysctl" phase, and its handler against a
fake /proc/sys under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import ExecutionError, SpecError
from limpet.core.plan import PHASES
from limpet.plugins.process import sysctl


class FakeCtx:
    """The handler's view: root_path maps container paths into tmp_path (before pivot)."""

    def __init__(self, rootfs: Path) -> None:
        self.rootfs = str(rootfs)
        self.pivoted = False

    def root_path(self, path: str) -> str:
        return os.path.join(self.rootfs, path.lstrip("/"))


def spec_error(bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        bundle.compile()
    return info.value


def without(bundle: Any, ns_type: str) -> None:
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != ns_type]


def test_sysctl_phase_runs_after_pivot_and_before_readonly_paths() -> None:
    names = [name for name, _ in PHASES]
    assert names.index("pivot") < names.index("sysctl") < names.index("finalize-rootfs")
    assert dict(PHASES)["sysctl"] == "container"


def test_namespaced_sysctls_become_one_op_in_the_sysctl_phase(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["sysctl"] = {
        "net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "fs.mqueue.msg_max": "20",
        "kernel.domainname": "example.org"}
    plan = unit_bundle.plan()
    [op] = plan.ops("sysctl")
    assert (op.kind, op.where, op.plugin) == ("write-sysctls", "linux.sysctl", "process")
    assert op.args["sysctls"] == [
        {"key": "net.ipv4.ip_forward", "path": "net/ipv4/ip_forward", "value": "1",
         "where": 'linux.sysctl["net.ipv4.ip_forward"]'},
        {"key": "kernel.shmmax", "path": "kernel/shmmax", "value": "65536",
         "where": 'linux.sysctl["kernel.shmmax"]'},
        {"key": "fs.mqueue.msg_max", "path": "fs/mqueue/msg_max", "value": "20",
         "where": 'linux.sysctl["fs.mqueue.msg_max"]'},
        {"key": "kernel.domainname", "path": "kernel/domainname", "value": "example.org",
         "where": 'linux.sysctl["kernel.domainname"]'}]


def test_no_sysctl_means_no_op(unit_bundle: Any) -> None:
    assert unit_bundle.plan().ops("sysctl") == []


def test_slash_separated_key_keeps_dots_inside_names(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["sysctl"] = {"net/ipv4/conf/eth0.100/forwarding": "1"}
    [op] = unit_bundle.plan().ops("sysctl")
    assert op.args["sysctls"][0]["path"] == "net/ipv4/conf/eth0.100/forwarding"


@pytest.mark.parametrize(("key", "dotted", "path"), [
    ("net.ipv4.ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/conf/eno2.100/rp_filter", "net.ipv4.conf.eno2/100.rp_filter",
     "net/ipv4/conf/eno2.100/rp_filter"),
    ("net.ipv4.conf.eno2/100.rp_filter", "net.ipv4.conf.eno2/100.rp_filter",
     "net/ipv4/conf/eno2.100/rp_filter"),
])
def test_key_separators_follow_sysctl_8(key: str, dotted: str, path: str) -> None:
    assert sysctl.dotted(key) == dotted
    assert sysctl.proc_path(key) == path


def test_net_sysctl_without_a_network_namespace_is_refused(unit_bundle: Any) -> None:
    without(unit_bundle, "network")
    unit_bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    err = spec_error(unit_bundle)
    assert err.where == 'linux.sysctl["net.ipv4.ip_forward"]'
    assert "needs its own network namespace" in err.message


def test_net_sysctl_in_the_runtimes_own_network_namespace_is_refused(
        unit_bundle: Any) -> None:
    for ns in unit_bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/self/ns/net"
    unit_bundle.config["linux"]["sysctl"] = {"net.core.somaxconn": "256"}
    err = spec_error(unit_bundle)
    assert err.where == 'linux.sysctl["net.core.somaxconn"]'
    assert "in the runtime's it would change the host" in err.message


def test_net_sysctl_in_another_joined_network_namespace_is_accepted(
        unit_bundle: Any, tmp_path: Path) -> None:
    other = tmp_path / "netns"
    other.write_text("")   # not the runtime's namespace (the namespaces plugin checks paths)
    for ns in unit_bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = str(other)
    unit_bundle.config["linux"]["sysctl"] = {"net.core.somaxconn": "256"}
    assert len(unit_bundle.plan().ops("sysctl")) == 1


@pytest.mark.parametrize("key", ["kernel.shmmax", "kernel.msgmnb", "kernel.sem",
                                 "kernel.shm_rmid_forced", "fs.mqueue.queues_max",
                                 "fs/mqueue/msg_max"])
def test_ipc_sysctl_without_an_ipc_namespace_is_refused(unit_bundle: Any, key: str) -> None:
    without(unit_bundle, "ipc")
    unit_bundle.config["linux"]["sysctl"] = {key: "1"}
    err = spec_error(unit_bundle)
    assert err.where == f'linux.sysctl["{key}"]'
    assert "needs its own ipc namespace" in err.message


def test_uts_sysctl_without_a_uts_namespace_is_refused(unit_bundle: Any) -> None:
    without(unit_bundle, "uts")
    unit_bundle.config.pop("hostname", None)
    unit_bundle.config["linux"]["sysctl"] = {"kernel.domainname": "example.org"}
    err = spec_error(unit_bundle)
    assert err.where == 'linux.sysctl["kernel.domainname"]'
    assert "uts namespace" in err.message


def test_kernel_hostname_conflicts_with_the_hostname_field(unit_bundle: Any) -> None:
    unit_bundle.config["hostname"] = "box"
    unit_bundle.config["linux"]["sysctl"] = {"kernel.hostname": "other"}
    err = spec_error(unit_bundle)
    assert err.where == 'linux.sysctl["kernel.hostname"]'
    assert "conflicts with the hostname field" in err.message
    unit_bundle.config.pop("hostname")
    assert len(unit_bundle.plan().ops("sysctl")) == 1


@pytest.mark.parametrize("key", ["vm.swappiness", "kernel.pid_max", "fs.file-max",
                                 "kernel.msgmax_not", "user.max_user_namespaces"])
def test_sysctl_that_is_not_namespaced_is_refused(unit_bundle: Any, key: str) -> None:
    unit_bundle.config["linux"]["sysctl"] = {key: "1"}
    err = spec_error(unit_bundle)
    assert err.where == f'linux.sysctl["{key}"]'
    assert "is not namespaced: setting it would change the host" in err.message


@pytest.mark.parametrize("key", ["net/../../etc/passwd", "net..ipv4", "net.ipv4.", ""])
def test_sysctl_key_that_is_not_a_name_is_refused(unit_bundle: Any, key: str) -> None:
    unit_bundle.config["linux"]["sysctl"] = {key: "1"}
    err = spec_error(unit_bundle)
    assert err.where == f'linux.sysctl["{key}"]'
    assert "is not a sysctl name" in err.message


def test_sysctl_value_with_a_newline_is_refused(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1\n0"}
    assert spec_error(unit_bundle).where == 'linux.sysctl["net.ipv4.ip_forward"]'


# --- the handler ------------------------------------------------------------------------------

def _item(key: str, value: str) -> dict[str, str]:
    return {"key": key, "path": sysctl.proc_path(key), "value": value,
            "where": sysctl.where_of(key)}


def test_write_sysctls_writes_each_value_under_proc_sys(tmp_path: Path) -> None:
    base = tmp_path / "proc" / "sys"
    (base / "net" / "ipv4").mkdir(parents=True)
    (base / "kernel").mkdir()
    (base / "net" / "ipv4" / "ip_forward").write_text("0\n")
    (base / "kernel" / "shmmax").write_text("0\n")
    sysctl.write_sysctls(FakeCtx(tmp_path), {"sysctls": [
        _item("net.ipv4.ip_forward", "1"), _item("kernel/shmmax", "65536")]})
    assert (base / "net" / "ipv4" / "ip_forward").read_bytes().startswith(b"1")
    assert (base / "kernel" / "shmmax").read_bytes().startswith(b"65536")


def test_unknown_sysctl_names_its_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "proc" / "sys" / "net").mkdir(parents=True)
    with pytest.raises(ExecutionError) as info:
        sysctl.write_sysctls(FakeCtx(tmp_path), {"sysctls": [_item("net.ipv4.nope", "1")]})
    assert info.value.where == 'linux.sysctl["net.ipv4.nope"]'
    assert "no such sysctl in this kernel (/proc/sys/net/ipv4/nope)" in info.value.message


def test_missing_proc_says_to_mount_proc(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError) as info:
        sysctl.write_sysctls(FakeCtx(tmp_path), {"sysctls": [_item("net.ipv4.nope", "1")]})
    assert "mount proc on /proc" in info.value.message


def test_symlink_in_place_of_a_sysctl_is_not_followed(tmp_path: Path) -> None:
    base = tmp_path / "proc" / "sys" / "kernel"
    base.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (base / "shmmax").symlink_to(target)
    with pytest.raises(ExecutionError):
        sysctl.write_sysctls(FakeCtx(tmp_path), {"sysctls": [_item("kernel.shmmax", "1")]})
    assert target.read_text() == "keep"
