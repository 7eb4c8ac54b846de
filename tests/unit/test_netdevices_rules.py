"""linux.netDevices as data: name rules, refusals and the plan; rtnetlink messages built and
parsed. Moving real devices: integration/test_netdevices.py."""

from __future__ import annotations

import _socket
import struct
from typing import Any

import pytest
from limpet.core.errors import SpecError
from limpet.plugins.netdevices import netlink
from limpet.plugins.netdevices.plugin import name_problem


def spec_error(bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        bundle.compile()
    return info.value


@pytest.mark.parametrize("name", ["eth1", "net%d", "a" * 15, "veth-x.1"])
def test_valid_names(name: str) -> None:
    assert name_problem(name, template=True) is None


@pytest.mark.parametrize(("name", "template", "why"), [
    ("", True, "not a valid"), (".", True, "not a valid"), ("a" * 16, True, "longer than 15"),
    ("a/b", True, "must not contain"), ("a:b", True, "must not contain"),
    ("a b", True, "must not contain"), ("net%d", False, "only '%' allowed"),
    ("net%s", True, "only '%' allowed"), ("n%d%d", True, "only '%' allowed")])
def test_invalid_names(name: str, template: bool, why: str) -> None:
    problem = name_problem(name, template)
    assert problem is not None and why in problem


def test_devices_are_moved_in_the_init_created_phase(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["netDevices"] = {"lo": {"name": "host-lo"}}
    ops = unit_bundle.plan().ops("init-created")
    assert [op.kind for op in ops] == ["move-net-devices"]
    assert ops[0].args["devices"] == [{"host": "lo", "name": "host-lo",
                                       "where": "linux.netDevices.lo",
                                       "name_where": "linux.netDevices.lo.name"}]


def test_without_a_name_the_host_name_is_kept(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["netDevices"] = {"lo": {}}
    device = unit_bundle.plan().ops("init-created")[0].args["devices"][0]
    assert device["name"] == "lo" and device["name_where"] == "linux.netDevices.lo"


def test_no_network_namespace_names_net_devices(unit_bundle: Any) -> None:
    namespaces = unit_bundle.config["linux"]["namespaces"]
    unit_bundle.config["linux"]["namespaces"] = [ns for ns in namespaces
                                                 if ns["type"] != "network"]
    unit_bundle.config["linux"]["netDevices"] = {"lo": {"name": "x"}}
    err = spec_error(unit_bundle)
    assert err.where == "linux.netDevices" and "network namespace" in err.message


def test_missing_host_device_names_its_entry(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["netDevices"] = {"lmp-absent0": {}}
    assert spec_error(unit_bundle).where == "linux.netDevices.lmp-absent0"


def test_invalid_container_name_names_the_name(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["netDevices"] = {"lo": {"name": "much-too-long-name"}}
    assert spec_error(unit_bundle).where == "linux.netDevices.lo.name"


def test_two_devices_with_one_container_name(unit_bundle: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_socket, "if_nametoindex", lambda name: 7)   # both exist on the host
    unit_bundle.config["linux"]["netDevices"] = {"veth-a": {"name": "eth1"},
                                                 "veth-b": {"name": "eth1"}}
    err = spec_error(unit_bundle)
    assert err.where == "linux.netDevices.veth-b.name"
    assert "linux.netDevices.veth-a" in err.message


def test_template_names_may_repeat(unit_bundle: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_socket, "if_nametoindex", lambda name: 7)
    unit_bundle.config["linux"]["netDevices"] = {"veth-a": {"name": "net%d"},
                                                 "veth-b": {"name": "net%d"}}
    assert len(unit_bundle.plan().ops("init-created")[0].args["devices"]) == 2


# --- rtnetlink messages ---------------------------------------------------------------------

def test_attrs_are_padded_and_parse_back() -> None:
    data = netlink.attr(3, b"eth1\0") + netlink.attr(28, struct.pack("=I", 7))
    assert len(data) == 12 + 8        # 4 + 5 bytes padded to 12; 4 + 4
    assert netlink.parse_attrs(data) == {3: b"eth1\0", 28: struct.pack("=I", 7)}


def test_link_parse() -> None:
    body = (netlink._IFINFO.pack(0, 1, 9, netlink.IFF_UP, 0) + netlink.attr(3, b"veth0\0")
            + netlink.attr(1, b"\x02\x00\x00\x00\x00\x01"))
    link = netlink.Link.parse(body)
    assert (link.index, link.name, link.flags, link.mac) == (9, "veth0", 1,
                                                             b"\x02\x00\x00\x00\x00\x01")


def address(flags: int, scope: int, flags_attr: int | None = None) -> netlink.Address:
    body = netlink._IFADDR.pack(2, 24, flags, scope, 9) + netlink.attr(2, bytes([10, 0, 0, 1]))
    if flags_attr is not None:
        body += netlink.attr(netlink.IFA_FLAGS, struct.pack("=I", flags_attr))
    return netlink.Address.parse(body)


def test_only_permanent_global_addresses_are_kept() -> None:
    assert address(netlink.IFA_F_PERMANENT, 0).permanent_global
    assert not address(0, 0).permanent_global                       # has a lifetime
    assert not address(netlink.IFA_F_PERMANENT, 253).permanent_global   # scope link
    # the 32-bit IFA_FLAGS attribute supersedes the 8-bit field
    assert address(0, 0, flags_attr=netlink.IFA_F_PERMANENT).permanent_global
    assert address(netlink.IFA_F_PERMANENT, 0).text() == "10.0.0.1/24"
