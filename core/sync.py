"""The sync socket between the runtime process and the container's init.

Length-prefixed JSON messages over a SOCK_STREAM socketpair (a plan with a seccomp profile
can exceed a datagram); file descriptors ride along as SCM_RIGHTS. Messages:
``{"plan": ...}`` (runtime -> init); ``{"sync": phase}`` and ``{"ack": phase}`` around
parent-side phases; from the init: ``{"pid": N}`` (the container process),
``{"log": text, "level": ...}``, ``{"terminal": true}`` with the pty master,
``{"call": kind, "args": {...}}`` with fds (answered ``{"ack": kind}``),
``{"ready": true}`` and ``{"error": {...}}``.

Lean: standard library only.
"""

from __future__ import annotations

import socket
import struct

from . import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LEN = struct.Struct("!I")


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message; ``fds`` travel with it as SCM_RIGHTS (e.g. a pty master)."""
    data = jsonlite.dumps(message, compact=True).encode()
    frame = _LEN.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame[:1]], fds)
        frame = frame[sent:]
    sock.sendall(frame)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the other side closed the socket. File descriptors
    sent with it are in ``message["fds"]``."""
    first, fds, _flags, _addr = socket.recv_fds(sock, 1, 4, socket.MSG_CMSG_CLOEXEC)
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
