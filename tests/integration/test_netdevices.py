"""linux.netDevices in real containers (config-linux.md#network-devices): one end of a host
veth pair is moved in, renamed, keeps its permanent global addresses (and only those), is
up, and carries traffic to the host's end."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


@dataclass
class Veth:
    inside: str    # the end the test moves into the container
    outside: str   # the end that stays on the host


@pytest.fixture
def veth() -> Iterator[Veth]:
    tag = uuid.uuid4().hex[:6]
    pair = Veth(f"lmp{tag}a", f"lmp{tag}b")
    ip("link", "add", pair.inside, "type", "veth", "peer", "name", pair.outside)
    try:
        yield pair
    finally:
        # the kernel destroys the pair when the container's network namespace goes, a
        # moment after the container is deleted
        deadline = time.monotonic() + 10
        moved = not exists(pair.inside)
        while moved and exists(pair.outside) and time.monotonic() < deadline:
            time.sleep(0.05)
        for name in (pair.inside, pair.outside):
            if exists(name):
                ip("link", "del", name, check=False)


def addresses(output: str, device: str) -> list[str]:
    return [line.split()[3] for line in output.splitlines()
            if len(line.split()) > 3 and line.split()[1] == device
            and line.split()[2] in ("inet", "inet6")]


def test_device_is_moved_renamed_addressed_and_up(limpet: Runtime, bundle: Bundle,
                                                  veth: Veth) -> None:
    ip("addr", "add", "10.123.0.1/24", "dev", veth.inside)
    ip("addr", "add", "fd00:123::1/64", "dev", veth.inside, "nodad")
    ip("addr", "add", "10.124.0.1/24", "dev", veth.inside, "valid_lft", "300",
       "preferred_lft", "300")                                   # not permanent: dropped
    ip("addr", "add", "169.254.9.1/16", "scope", "link", "dev", veth.inside)  # not global
    bundle.config["linux"]["netDevices"] = {veth.inside: {"name": "eth1"}}
    result = run_in(limpet, bundle, "ip -o addr show dev eth1; ip -o link show eth1")
    assert result.returncode == 0, result.stderr
    assert sorted(addresses(result.stdout, "eth1")) == ["10.123.0.1/24", "fd00:123::1/64"]
    link = result.stdout.splitlines()[-1]
    assert link.split()[1].startswith("eth1")
    assert ",UP" in link.split()[2]
    assert not exists(veth.inside)     # it left the host's namespace


def test_moved_device_carries_traffic(limpet: Runtime, bundle: Bundle, veth: Veth) -> None:
    ip("addr", "add", "10.125.0.1/24", "dev", veth.inside)
    ip("addr", "add", "10.125.0.2/24", "dev", veth.outside)
    ip("link", "set", veth.outside, "up")
    bundle.config["linux"]["netDevices"] = {veth.inside: {}}   # keeps its name
    bundle.config["process"]["capabilities"]["effective"].append("CAP_NET_RAW")
    bundle.config["process"]["capabilities"]["permitted"].append("CAP_NET_RAW")
    bundle.config["process"]["capabilities"]["bounding"].append("CAP_NET_RAW")
    result = run_in(limpet, bundle, f"ping -c 1 -W 5 10.125.0.2 && ip -o link show "
                    f"{veth.inside}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 packets received" in result.stdout


def test_template_name_takes_the_first_free_number(limpet: Runtime, bundle: Bundle,
                                                   veth: Veth) -> None:
    bundle.config["linux"]["netDevices"] = {veth.inside: {"name": "net%d"}}
    result = run_in(limpet, bundle, "ip -o link show net0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1].startswith("net0")


def test_name_taken_in_the_container_fails_before_the_move(limpet: Runtime, bundle: Bundle,
                                                           veth: Veth) -> None:
    bundle.config["linux"]["netDevices"] = {veth.inside: {"name": "lo"}}
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), "taken")
    assert result.returncode != 0
    assert f"linux.netDevices.{veth.inside}.name: a network device named 'lo' already " \
        "exists in the container's network namespace" in result.stderr
    assert limpet.containers() == []
    assert exists(veth.inside)         # never moved: it is still the host's


def test_missing_host_device_names_the_entry(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["netDevices"] = {"lmp-nothere": {}}
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), "missing")
    assert result.returncode != 0
    assert "linux.netDevices.lmp-nothere: no network device 'lmp-nothere'" in result.stderr
    assert limpet.containers() == []


def test_features_say_net_devices_are_supported(limpet: Runtime) -> None:
    features = json.loads(limpet("features").stdout)
    assert features["linux"]["netDevices"] == {"enabled": True}
