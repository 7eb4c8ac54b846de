"""Compiled filters, cached under the state root.

libseccomp takes about 20 ms to build podman's profile for x86_64, x86 and x32; reading
the result back takes a fraction of a millisecond. An entry is named by the SHA-256 of what
decides the program (the profile's filter fields, the machine and this cache's format) and
records the libseccomp file that compiled it (path, device, inode, size, mtime): an entry
whose library file changed is a miss, so it can never be stale, and a hit needs no
libseccomp at all (loading it costs ~1 ms). ``limpet_plan`` only reads (it must stay
pure); on a miss it plans a ``seccomp-cache`` op in ``prepare`` that writes the entry (see
ops.py). An entry is a file ``ROOT/@seccomp-DIGEST.json`` beside the containers' directories
(``@`` is not allowed in a container id; files, so that every directory of the root is a
container, as with runc), mode 0600; an entry or a root that is not owned by us or is
writable by others, or an entry that does not parse, is ignored.
"""

from __future__ import annotations

import os
import stat
from binascii import a2b_base64, b2a_base64  # base64 without its import of re

from limpet.core import jsonlite

try:   # CPython's own SHA-256: hashlib would load OpenSSL first (~3 ms of every create)
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        from hashlib import sha256

from . import libseccomp
from .compiler import Compiled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = 2
PREFIX = "@seccomp-"
#: The fields of linux.seccomp that decide the BPF program (flags and the listener only
#: decide how it is loaded).
FILTER_FIELDS = ("defaultAction", "defaultErrnoRet", "architectures", "syscalls")


def entry_path(state_dir: str, seccomp: Any) -> str:
    from limpet.core.spec import dump

    whole = dump(seccomp)
    profile = {key: whole[key] for key in FILTER_FIELDS if key in whole}
    identity = {"format": FORMAT, "machine": os.uname().machine, "profile": profile}
    digest = sha256(jsonlite.dumps(identity, sort_keys=True).encode()).hexdigest()
    return os.path.join(os.path.dirname(state_dir), f"{PREFIX}{digest}.json")


def is_entry(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(".json")


def _trusted(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read(path: str) -> Compiled | None:
    """The cached program, or None (missing, untrusted, malformed, or compiled by a
    libseccomp file that has changed since)."""
    try:
        directory = os.lstat(os.path.dirname(path))
        if not stat.S_ISDIR(directory.st_mode) or not _trusted(directory):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            if not _trusted(os.fstat(f.fileno())):
                return None
            data = jsonlite.loads(f.read())
        library, *identity = data["library"]
        if libseccomp.file_identity(library) != identity:
            return None
        bpf = a2b_base64(data["bpf"], strict_mode=True)   # = b64decode(validate=True)
        if not bpf or len(bpf) % 8:
            return None
        return Compiled(bpf, int(data["rules"]), [str(n) for n in data["skipped"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def entry(compiled: Compiled) -> dict[str, Any]:
    """What the ``seccomp-cache`` op writes (its args, besides ``path``)."""
    return {"rules": compiled.rules, "skipped": compiled.skipped,
            "bpf": b2a_base64(compiled.bpf, newline=False).decode(),
            "library": libseccomp.library_file()}
