"""Moving network devices into the container (config-linux.md#network-devices), in the
runtime process once the init's network namespace exists (``init-created`` phase).

For each device: check that its container name is free there, note its permanent
global-scope addresses, move and rename it with one RTM_NEWLINK, add those addresses back
(a move drops them), and set it up. Nothing is done at ``delete``: the spec forbids moving
a device back, and the kernel returns physical devices to the host (and destroys virtual
ones) when the network namespace goes.
"""

from __future__ import annotations

import os

from limpet.core.errors import ExecutionError

from .netlink import Link, Netlink, netlink_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def move_devices(pctx: Any, args: dict[str, Any]) -> None:
    """``args["devices"]``: [{"host", "name", "where"}], in config order."""
    netns = f"/proc/{pctx.target_pid}/ns/net"
    netns_fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Netlink() as host, netlink_in(netns) as container:
            for device in args["devices"]:
                _move(host, container, netns_fd, device)
    finally:
        os.close(netns_fd)


def _move(host: Netlink, container: Netlink, netns_fd: int, device: dict[str, Any]) -> None:
    where, name = device["where"], device["name"]
    link = host.link(device["host"])
    if link is None:
        raise ExecutionError(where, f"no network device {device['host']!r} in the runtime's "
                             "network namespace")
    name_where = device.get("name_where") or where
    if "%" not in name and container.link(name) is not None:
        raise ExecutionError(name_where, f"a network device named {name!r} already exists in "
                             "the container's network namespace (a name ending in %d lets the "
                             "kernel pick a free one)")
    keep = [a for a in host.addresses(link.index) if a.permanent_global]
    try:
        host.move(link.index, netns_fd, name)
    except OSError as exc:
        raise ExecutionError(where, f"cannot move {link.name!r} into the container's network "
                             f"namespace as {name!r}: {exc.strerror}", errno=exc.errno) from None
    moved = _find(container, link)
    for address in keep:
        try:
            container.add_address(moved.index, address)
        except OSError as exc:
            raise ExecutionError(where, f"cannot restore address {address.text()} on "
                                 f"{moved.name!r}: {exc.strerror}", errno=exc.errno) from None
    try:
        container.set_up(moved.index)
    except OSError as exc:
        raise ExecutionError(where, f"cannot set {moved.name!r} up: {exc.strerror}",
                             errno=exc.errno) from None


def _find(container: Netlink, link: Link) -> Link:
    """The moved device: the kernel keeps its index unless the namespace has it taken; its
    hardware address settles it (a %d name is only known afterwards)."""
    links = [candidate for candidate in container.links() if candidate.mac == link.mac]
    same_index = [candidate for candidate in links if candidate.index == link.index]
    found = same_index or links
    if len(found) != 1:
        raise ExecutionError(None, f"moved {link.name!r}, but cannot tell which device it is "
                             "in the container's network namespace")
    return found[0]
