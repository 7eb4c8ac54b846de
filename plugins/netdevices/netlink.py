"""A minimal rtnetlink(7) client: list links and addresses, move a link to another network
namespace (renaming it), add an address, set a link up. What moving a network device into
a container needs, and no more.

Standard library only (``_socket``, not socket: its enums cost milliseconds).
"""

from __future__ import annotations

import _socket
import os
import struct

from limpet.core.syscalls import Syscalls, const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_NET_NS_FD = 1, 3, 28
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
IFF_UP = 0x1
#: the attributes of an address that describe it (not its label, lifetimes or cache info)
_ADDRESS_ATTRS = (IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS)

_HDR = struct.Struct("=IHHII")        # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")    # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")     # ifaddrmsg: family, prefixlen, flags, scope, index
_ATTR = struct.Struct("=HH")          # rtattr: len, type
_U32 = struct.Struct("=I")


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr, padded."""
    length = _ATTR.size + len(data)
    return _ATTR.pack(length, kind) + data + b"\0" * (_align(length) - length)


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """The rtattrs of a message body (type -> payload; the nested/byte-order bits cleared)."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + _ATTR.size:offset + length]
        offset += _align(length)
    return found


class Link:
    """A network device as RTM_GETLINK reports it."""

    def __init__(self, index: int, name: str, flags: int, mac: bytes | None) -> None:
        self.index, self.name, self.flags, self.mac = index, name, flags, mac

    @classmethod
    def parse(cls, body: bytes) -> Link:
        _, _, index, flags, _ = _IFINFO.unpack_from(body)
        attrs = parse_attrs(body[_IFINFO.size:])
        name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode()
        return cls(index, name, flags, attrs.get(IFLA_ADDRESS))


class Address:
    """An address as RTM_GETADDR reports it."""

    def __init__(self, family: int, prefixlen: int, flags: int, scope: int, index: int,
                 attrs: dict[int, bytes]) -> None:
        self.family, self.prefixlen, self.flags, self.scope = family, prefixlen, flags, scope
        self.index, self.attrs = index, attrs

    @classmethod
    def parse(cls, body: bytes) -> Address:
        family, prefixlen, flags, scope, index = _IFADDR.unpack_from(body)
        attrs = parse_attrs(body[_IFADDR.size:])
        if IFA_FLAGS in attrs:   # the 32-bit flags supersede the 8-bit field
            flags = _U32.unpack(attrs[IFA_FLAGS][:4])[0]
        return cls(family, prefixlen, flags, scope, index, attrs)

    @property
    def permanent_global(self) -> bool:
        """What config-linux.md#network-devices says a move keeps: IFA_F_PERMANENT,
        RT_SCOPE_UNIVERSE."""
        return bool(self.flags & IFA_F_PERMANENT) and self.scope == RT_SCOPE_UNIVERSE

    def text(self) -> str:
        raw = self.attrs.get(IFA_LOCAL) or self.attrs.get(IFA_ADDRESS) or b""
        family = _socket.AF_INET if len(raw) == 4 else _socket.AF_INET6
        return f"{_socket.inet_ntop(family, raw)}/{self.prefixlen}" if raw else "?"


class Netlink:
    """One NETLINK_ROUTE socket, in the network namespace it was made in."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request; the bodies of the replies. A dump ends with NLMSG_DONE,
        anything else with its ACK; a kernel error is raised as OSError."""
        self.seq += 1
        self.sock.send(_HDR.pack(_HDR.size + len(body), kind, flags | NLM_F_REQUEST,
                                 self.seq, 0) + body)
        replies: list[bytes] = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, mtype, _, seq, _ = _HDR.unpack_from(data, offset)
                payload = data[offset + _HDR.size:offset + length]
                offset += _align(length)
                if seq != self.seq:
                    continue
                if mtype == NLMSG_DONE:
                    return replies
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return replies
                replies.append(payload)

    def links(self) -> list[Link]:
        bodies = self.request(RTM_GETLINK, NLM_F_DUMP, _IFINFO.pack(0, 0, 0, 0, 0))
        return [Link.parse(body) for body in bodies]

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links() if link.name == name), None)

    def addresses(self, index: int) -> list[Address]:
        bodies = self.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(0, 0, 0, 0, 0))
        return [a for a in map(Address.parse, bodies) if a.index == index]

    def move(self, index: int, netns_fd: int, name: str) -> None:
        """Move link ``index`` to the namespace of ``netns_fd`` and name it ``name`` there
        (a ``%d`` template lets the kernel pick a free number)."""
        body = (_IFINFO.pack(0, 0, index, 0, 0) + attr(IFLA_NET_NS_FD, _U32.pack(netns_fd))
                + attr(IFLA_IFNAME, name.encode() + b"\0"))
        self.request(RTM_NEWLINK, NLM_F_ACK, body)

    def add_address(self, index: int, address: Address) -> None:
        body = _IFADDR.pack(address.family, address.prefixlen, address.flags & 0xFF,
                            address.scope, index)
        body += b"".join(attr(kind, value) for kind, value in address.attrs.items()
                         if kind in _ADDRESS_ATTRS)
        self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, NLM_F_ACK, _IFINFO.pack(0, 0, index, IFF_UP, IFF_UP))


def netlink_in(netns_path: str, sys: Syscalls | None = None) -> Netlink:
    """A socket in another network namespace: enter it, make the socket (it keeps its
    namespace), and come back."""
    sys = sys or Syscalls()
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sys.setns(target, const("CLONE_NEWNET"), netns_path)
            try:
                return Netlink()
            finally:
                sys.setns(own, const("CLONE_NEWNET"), "/proc/self/ns/net")
        finally:
            os.close(target)
    finally:
        os.close(own)
