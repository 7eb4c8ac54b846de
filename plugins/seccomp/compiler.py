"""linux.seccomp -> a classic BPF program, built with libseccomp in the runtime process.

Follows runc (libcontainer/seccomp/seccomp_linux.go): the default action and the
architectures make the filter; each syscall name of each rule is resolved on the native
architecture and skipped with a debug line if libseccomp does not know it; a rule whose
action equals the default action is redundant and skipped; conditions on distinct
arguments are ANDed in one rule, and if two conditions test the same argument each becomes
a rule of its own (libseccomp cannot AND them). Profiles of more than 32 rules get
libseccomp's binary-tree lookup. Building is pure: nothing is loaded here.
"""

from __future__ import annotations

from limpet.core.errors import SpecError
from limpet.core.record import Record, field

from . import libseccomp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Flags the spec names -> seccomp(2) filter flags (limpet loads the filter itself).
KNOWN_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
               "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
MAX_ERRNO = 4095


class Compiled(Record):
    """The BPF program, and a summary for ``limpet plan``: rules added, names skipped."""

    bpf: bytes
    rules: int
    skipped: list[str] = field(default_factory=list)

    @property
    def instructions(self) -> int:
        return len(self.bpf) // 8


def load_flags(seccomp: Any, notify: bool) -> list[str]:
    """The seccomp(2) flags for loading: the profile's, plus a listener for NOTIFY rules.

    TSYNC with a listener needs TSYNC_ESRCH (the kernel refuses the pair otherwise);
    WAIT_KILLABLE_RECV only means something with a listener (libseccomp applies it then
    only), and the kernel refuses it without one.
    """
    flags = [f for f in dict.fromkeys(seccomp.flags or [])
             if notify or f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    if notify:
        flags.append("SECCOMP_FILTER_FLAG_NEW_LISTENER")
        if "SECCOMP_FILTER_FLAG_TSYNC" in flags:
            flags.append("SECCOMP_FILTER_FLAG_TSYNC_ESRCH")
    return flags


def uses_notify(seccomp: Any) -> bool:
    return any(rule.action == "SCMP_ACT_NOTIFY" for rule in seccomp.syscalls or [])


def compile_profile(seccomp: Any, where: str = "linux.seccomp") -> Compiled:
    """Build ``seccomp`` (a validated ``limpet.core.spec.Seccomp``) into BPF."""
    try:
        default = libseccomp.action_value(seccomp.default_action, seccomp.default_errno_ret)
        bpf_filter = libseccomp.Filter(default)
    except libseccomp.LibseccompError as exc:
        raise SpecError(where, str(exc)) from None
    rules = 0
    skipped: list[str] = []
    with bpf_filter:
        for i, arch in enumerate(seccomp.architectures or []):
            token = libseccomp.arch_token(arch)
            if token is None:
                major, minor, micro = libseccomp.version()
                raise SpecError(f"{where}.architectures[{i}]", f"{arch} is not known to "
                                f"libseccomp {major}.{minor}.{micro}")
            try:
                bpf_filter.add_arch(token)
            except libseccomp.LibseccompError as exc:
                raise SpecError(f"{where}.architectures[{i}]", f"{arch}: {exc}") from None
        if len(seccomp.syscalls or []) > 32:
            bpf_filter.optimize()
        for i, rule in enumerate(seccomp.syscalls or []):
            action = libseccomp.action_value(rule.action, rule.errno_ret)
            if action == default:
                continue
            groups = _condition_groups(rule)
            for name in rule.names:
                nr = libseccomp.syscall_number(name)
                if nr is None:
                    skipped.append(name)   # as runc: a syscall this libseccomp lacks
                    continue
                for conditions in groups:
                    try:
                        bpf_filter.add_rule(action, nr, conditions)
                    except libseccomp.LibseccompError as exc:
                        raise SpecError(f"{where}.syscalls[{i}]", f"libseccomp refused the "
                                        f"rule for {name}: {exc.strerror}") from None
                    rules += 1
        try:
            bpf = bpf_filter.export_bpf()
        except libseccomp.LibseccompError as exc:
            raise SpecError(where, f"exporting the filter: {exc}") from None
    return Compiled(bpf, rules, skipped)


def _condition_groups(rule: Any) -> list[list[tuple[int, int, int, int]]]:
    conditions = [(arg.index, libseccomp.OPERATORS[arg.op], arg.value, arg.value_two or 0)
                  for arg in rule.args or []]
    indexes = [c[0] for c in conditions]
    if len(set(indexes)) != len(indexes):
        return [[c] for c in conditions]     # runc: one rule per condition
    return [conditions]
