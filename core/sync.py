"""The sync socket between the runtime process and the container's init.

Length-prefixed JSON messages over a SOCK_STREAM socketpair (a plan with a seccomp profile
can exceed a datagram). Messages: ``{"plan": ...}`` (runtime -> init), ``{"sync": phase}``
and ``{"ack": phase}`` around parent-side phases, ``{"pid": N}`` (the container process),
``{"ready": true}``, and ``{"error": {...}}`` in either direction.

Lean: standard library only.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_LEN = struct.Struct("!I")


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_LEN.pack(len(data)) + data)


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
    """The next message, or None when the other side closed the socket."""
    head = _recv_exact(sock, _LEN.size)
    if head is None:
        return None
    body = _recv_exact(sock, _LEN.unpack(head)[0])
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message
