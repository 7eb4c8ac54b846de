"""Engine seccomp templates -> linux.seccomp, as podman and Docker make them.

podman (containers/common ``pkg/seccomp``) and Docker (moby ``profiles/seccomp``) keep
their default profile as a *template*: rules carry ``includes``/``excludes`` on the
container's capabilities (its bounding set), the machine's architecture and the kernel
version, and ``archMap`` lists the architectures to add for each native one. For each
container the engine keeps the rules that apply and writes a plain ``linux.seccomp``.
:func:`resolve` does the same; ``default-profile.json`` is podman's template (Debian 12's
/usr/share/containers/seccomp.json), which ``limpet spec`` resolves.

Standard library (and limpet.core.jsonlite) only: ``limpet spec`` stays light.
"""

from __future__ import annotations

import os

from limpet.core import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: uname machine -> (the templates' architecture name, the spec's native architecture)
MACHINES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "i386": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"), "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "ppc64": ("ppc64", "SCMP_ARCH_PPC64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"), "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"), "mips": ("mips", "SCMP_ARCH_MIPS"),
}
DEFAULT_TEMPLATE = "default-profile.json"
#: Rule keys that belong in linux.seccomp (the rest is template syntax or comments).
RULE_KEYS = ("names", "action", "errnoRet", "args")


def load_template(path: str | None = None) -> dict[str, Any]:
    """A template from ``path``, or limpet's default (podman's)."""
    if path is not None:
        with open(path) as f:
            data: dict[str, Any] = jsonlite.loads(f.read())
        return data
    from importlib import resources  # here, not at the top: only this default needs it

    text = resources.files(__package__).joinpath(DEFAULT_TEMPLATE).read_text()
    default: dict[str, Any] = jsonlite.loads(text)
    return default


def _kernel() -> tuple[int, ...]:
    release = os.uname().release.split("-")[0]
    return tuple(int(p) for p in release.split(".")[:2] if p.isdigit())


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2])


def _applies(rule: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, ...]) -> bool:
    excludes, includes = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if caps & set(excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and kernel >= _version(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps") or []) <= caps:
        return False
    return not (includes.get("minKernel") and kernel < _version(includes["minKernel"]))


def resolve(template: dict[str, Any], capabilities: Iterable[str],
            machine: str | None = None, kernel: tuple[int, ...] | None = None
            ) -> dict[str, Any]:
    """The ``linux.seccomp`` an engine would write for a container whose bounding set is
    ``capabilities``, on ``machine`` (uname) and ``kernel`` (major, minor)."""
    machine = machine or os.uname().machine
    arch, native = MACHINES.get(machine, (machine, ""))
    kernel = kernel if kernel is not None else _kernel()
    caps = set(capabilities)
    profile: dict[str, Any] = {"defaultAction": template["defaultAction"]}
    if template.get("defaultErrnoRet") is not None:
        profile["defaultErrnoRet"] = template["defaultErrnoRet"]
    for entry in template.get("archMap") or []:
        if entry["architecture"] == native:
            profile["architectures"] = [native, *entry.get("subArchitectures", [])]
            break
    if template.get("flags"):
        profile["flags"] = list(template["flags"])
    profile["syscalls"] = [{k: rule[k] for k in RULE_KEYS if rule.get(k) not in (None, [])}
                           for rule in template.get("syscalls") or []
                           if _applies(rule, caps, arch, kernel)]
    return profile


def default_profile(capabilities: Iterable[str], machine: str | None = None
                    ) -> dict[str, Any]:
    """limpet's default linux.seccomp (podman's) for this bounding set and machine."""
    return resolve(load_template(), capabilities, machine)
