"""The sync socket between the runtime process and the container's init.

Length-prefixed JSON messages over a SOCK_STREAM socketpair (a plan with a seccomp profile
can exceed a datagram); file descriptors ride along as SCM_RIGHTS. Messages:
``{"plan": ...}`` (runtime -> init), then ``{"ack": "prepare"}`` once the runtime has run
the prepare phase (meanwhile the init imports its op handlers); ``{"sync": phase}`` and
``{"ack": phase}`` around the other parent-side phases; from the init: ``{"pid": N}`` (the
container process), ``{"log": text, "level": ...}``, ``{"terminal": true}`` with the pty master,
``{"call": kind, "args": {...}}`` with fds (answered ``{"ack": kind}``, with the fds the
runtime's handler made, e.g. an id-mapped mount),
``{"ready": true}`` and ``{"error": {...}}``.

Lean: standard library only, and ``_socket`` rather than socket (whose enums cost ~5 ms of
every create and a share of every waiting init).
"""

from __future__ import annotations

import _socket
import struct

from . import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any

_LEN = struct.Struct("!I")
_FD = struct.Struct("i")


def socketpair() -> tuple[socket, socket]:
    """A connected AF_UNIX stream pair (close-on-exec), as ``socket.socketpair()``."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)


def send_fds(sock: socket, data: bytes, fds: list[int]) -> int:
    """``socket.send_fds``: ``data`` with ``fds`` as SCM_RIGHTS."""
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
    sent: int = sock.sendmsg([data], rights)
    return sent


def connect_unix(path: str) -> socket:
    """A close-on-exec AF_UNIX stream socket connected to ``path``."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def send(sock: socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message; ``fds`` travel with it as SCM_RIGHTS (e.g. a pty master)."""
    data = jsonlite.dumps(message, compact=True).encode()
    frame = _LEN.pack(len(data)) + data
    if fds:
        frame = frame[send_fds(sock, frame[:1], fds):]
    sock.sendall(frame)


def _recv_exact(sock: socket, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv_fds(sock: socket, size: int, max_fds: int) -> tuple[bytes, list[int]]:
    """Like ``socket.recv_fds`` (received descriptors are close-on-exec)."""
    fds: list[int] = []
    data, ancillary, _flags, _addr = sock.recvmsg(
        size, _socket.CMSG_LEN(max_fds * _FD.size), _socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(payload) // _FD.size
            fds += struct.unpack(f"{count}i", payload[:count * _FD.size])
    return data, fds


def recv(sock: socket) -> dict[str, Any] | None:
    """The next message, or None when the other side closed the socket. File descriptors
    sent with it are in ``message["fds"]``."""
    first, fds = _recv_fds(sock, 1, 4)
    if not first:
        return None
    rest = _recv_exact(sock, _LEN.size - 1)
    if rest is None:
        return None
    head = first + rest
    body = _recv_exact(sock, _LEN.unpack(head)[0])
    if body is None:
        return None
    message: dict[str, Any] = jsonlite.loads(body)
    if fds:
        message["fds"] = fds
    return message
