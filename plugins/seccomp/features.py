"""The seccomp fragment of ``limpet features`` (features-linux.md#seccomp): what this
runtime recognises, with the architectures libseccomp knows and the flags the kernel
accepts probed on this host."""

from __future__ import annotations

from limpet.core.syscalls import Syscalls, const

from . import compiler, libseccomp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def supported_flags() -> list[str]:
    """Known flags the running kernel accepts (WAIT_KILLABLE_RECV only with a listener)."""
    sysc = Syscalls()
    supported = []
    for name in compiler.KNOWN_FLAGS:
        value = const(name)
        if name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            value |= const("SECCOMP_FILTER_FLAG_NEW_LISTENER")
        if sysc.seccomp_flags_supported(value):
            supported.append(name)
    return supported


def fragment() -> dict[str, Any]:
    """The plugin's fragment of the features document (``PluginInfo.features`` names it)."""
    try:
        archs = sorted(name for name in libseccomp.ARCHES if libseccomp.arch_token(name))
    except libseccomp.LibseccompError:
        return {"linux": {"seccomp": {"enabled": False}}}
    return {"linux": {"seccomp": {
        "enabled": True,
        "actions": sorted(libseccomp.ACTIONS),
        "operators": sorted(libseccomp.OPERATORS),
        "archs": archs,
        "knownFlags": list(compiler.KNOWN_FLAGS),
        "supportedFlags": supported_flags(),
    }}}
