"""The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program built from the device
rules (lean: standard library and limpet.core).

cgroup v2 has no devices.allow/deny files; the kernel asks a BPF program attached to the
cgroup instead (Documentation/admin-guide/cgroup-v2.rst, "Device controller"). limpet keeps
the v1 semantics exactly, as runc does (libcontainer/cgroups/devices):

1. :class:`Emulator` replays the rules in order as the v1 kernel would: ``a`` resets to
   deny-all or allow-all; in deny-all mode an allow adds an exception (access bits merge)
   and a deny removes bits from the exception with the same type and numbers; in allow-all
   mode the other way round. A deny that the v1 kernel would silently ignore because a
   wildcard exception covers it ("punching a hole") is an error, like runc's.
2. :func:`program` turns the final state into instructions, one block per exception in
   (major, minor, type) order, runc's layout (its devicefilter_test.go output is reproduced
   by limpet's unit tests): load the type, access, major and minor from
   ``struct bpf_cgroup_dev_ctx``, then per exception "if it matches, return allow/deny",
   and return the default last. An allow exception must cover every requested access bit
   (v1's match_exception); a deny exception matches any overlap (v1's
   match_exception_partial).
3. :func:`attach` loads the program and attaches it with BPF_F_ALLOW_MULTI to the cgroup
   directory, then detaches the programs that were there before (an update replaces the
   filter; a joined cgroup gets limpet's).
"""

from __future__ import annotations

import errno
import os
import struct

from limpet.core.errors import ExecutionError
from limpet.core.record import FrozenRecord, Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: struct bpf_cgroup_dev_ctx access bits (upper 16 bits of access_type) and device types.
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
DEV_BLOCK, DEV_CHAR = 1, 2
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
ALL_ACCESS = ACC_MKNOD | ACC_READ | ACC_WRITE
WILDCARD = -1
LICENSE = "Apache-2.0"

# eBPF opcodes (include/uapi/linux/bpf_common.h, bpf.h)
LDXW = 0x61      # BPF_LDX | BPF_MEM | BPF_W
AND32 = 0x54     # BPF_ALU | BPF_AND | BPF_K
RSH32 = 0x74     # BPF_ALU | BPF_RSH | BPF_K
MOV32 = 0xb4     # BPF_ALU | BPF_MOV | BPF_K
MOV32_REG = 0xbc  # BPF_ALU | BPF_MOV | BPF_X
JNE = 0x55       # BPF_JMP | BPF_JNE | BPF_K
JNE_REG = 0x5d   # BPF_JMP | BPF_JNE | BPF_X
JEQ = 0x15       # BPF_JMP | BPF_JEQ | BPF_K
EXIT = 0x95      # BPF_JMP | BPF_EXIT


class Rule(FrozenRecord):
    """One device rule: ``type`` a, b or c; ``major``/``minor`` -1 for ``*``."""

    allow: bool
    type: str
    major: int = WILDCARD
    minor: int = WILDCARD
    access: str = "rwm"

    def __str__(self) -> str:
        if self.type == "a":
            return f"{'allow' if self.allow else 'deny'} a"
        major = "*" if self.major == WILDCARD else self.major
        minor = "*" if self.minor == WILDCARD else self.minor
        return f"{'allow' if self.allow else 'deny'} {self.type} {major}:{minor} {self.access}"

    @classmethod
    def parse(cls, text: str) -> Rule:
        """The inverse of ``str()``: ``"allow c 1:3 rwm"``, ``"deny a"``."""
        verb, _, rest = text.partition(" ")
        if verb not in ("allow", "deny"):
            raise ValueError(f"bad device rule {text!r}")
        parts = rest.split()
        if parts == ["a"]:
            return cls(verb == "allow", "a")
        kind, numbers, access = parts
        major, minor = (WILDCARD if n == "*" else int(n) for n in numbers.split(":"))
        return cls(verb == "allow", kind, major, minor, access)


def _bits(access: str) -> int:
    out = 0
    for c in access:
        out |= _ACCESS[c]
    return out


def _letters(bits: int) -> str:
    return "".join(c for c in "rwm" if bits & _ACCESS[c])


def _order(key: tuple[str, int, int]) -> tuple[int, int, str]:
    """Exceptions sort by (major, minor, type), wildcards first (runc's order)."""
    return key[1], key[2], key[0]


class Emulator(Record):
    """The v1 device cgroup's state: the default and the exceptions
    ``{(type, major, minor): access bits}``."""

    default_allow: bool = False
    rules: dict[tuple[str, int, int], int] = field(default_factory=dict)

    def apply(self, rule: Rule) -> None:
        """Apply one rule as a write to devices.allow / devices.deny; ValueError for a hole
        punched in a wildcard exception."""
        if rule.type == "a":
            self.default_allow = rule.allow
            self.rules = {}
            return
        key = (rule.type, rule.major, rule.minor)
        bits = _bits(rule.access)
        if rule.allow != self.default_allow:       # add an exception
            self.rules[key] = self.rules.get(key, 0) | bits
            return
        for partial in ((rule.type, WILDCARD, rule.minor), (rule.type, rule.major, WILDCARD),
                        (rule.type, WILDCARD, WILDCARD)):
            if partial != key and self.rules.get(partial, 0) & bits:
                raise ValueError(f"{rule} cannot take access away from the wider rule "
                                 f"{Rule(not rule.allow, *partial, _letters(self.rules[partial]))}"
                                 " (the v1 device cgroup would ignore it)")
        left = self.rules.get(key, 0) & ~bits
        if left:
            self.rules[key] = left
        else:
            self.rules.pop(key, None)

    @classmethod
    def from_list(cls, text: str) -> Emulator:
        """The state a v1 ``devices.list`` shows: the allowed exceptions (``c 1:3 rwm``), or
        ``a *:* rwm`` alone in allow-all mode (whose deny exceptions the kernel does not
        show). ValueError for a line of another shape."""
        emulator = cls()
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                rule = Rule(True, "a") if line.split()[0] == "a" else Rule.parse(f"allow {line}")
            except ValueError:
                rule = None
            if rule is None or rule.type not in "abc" or set(rule.access) - set("rwm"):
                raise ValueError(f"devices.list: unexpected line {line!r}")
            emulator.apply(rule)
        return emulator

    def transition(self, target: Emulator) -> list[Rule]:
        """The fewest rules that take a v1 device cgroup from this state to ``target``
        (runc's Emulator.Transition): only a change of default, or an allow-all source
        (whose deny exceptions are unknown), needs the disruptive ``a`` rule that resets
        every exception; otherwise access is taken away and granted exception by
        exception, and a running container never loses a device it keeps."""
        out: list[Rule] = []
        old = self.rules
        if self.default_allow or self.default_allow != target.default_allow:
            out.append(Rule(target.default_allow, "a"))
            old = {}
        keep = not target.default_allow    # the verb of an exception's rule
        for key in sorted(old, key=_order):
            dropped = old[key] & ~target.rules.get(key, 0)
            if dropped:
                out.append(Rule(not keep, *key, _letters(dropped)))
        for key in sorted(target.rules, key=_order):
            gained = target.rules[key] & ~old.get(key, 0)
            if gained:
                out.append(Rule(keep, *key, _letters(gained)))
        return out

    def ordered(self) -> list[Rule]:
        """The exceptions sorted by (major, minor, type), wildcards first (runc's order)."""
        keys = sorted(self.rules, key=_order)
        return [Rule(not self.default_allow, t, major, minor, _letters(self.rules[(t, major,
                                                                                  minor)]))
                for t, major, minor in keys]


def emulate(rules: list[Rule]) -> Emulator:
    emulator = Emulator()
    for rule in rules:
        emulator.apply(rule)
    return emulator


#: One instruction: (opcode, dst register, src register, offset, immediate).
Insn = tuple[int, int, int, int, int]


def program(emulator: Emulator) -> list[Insn]:
    """The filter's instructions (R1 = ctx; R2 type, R3 access, R4 major, R5 minor)."""
    insns: list[Insn] = [
        (LDXW, 2, 1, 0, 0), (AND32, 2, 0, 0, 0xFFFF),      # R2 = access_type & 0xffff
        (LDXW, 3, 1, 0, 0), (RSH32, 3, 0, 0, 16),          # R3 = access_type >> 16
        (LDXW, 4, 1, 4, 0),                                # R4 = major
        (LDXW, 5, 1, 8, 0),                                # R5 = minor
    ]
    for rule in emulator.ordered():
        block: list[tuple[int, int, int, int | None, int]] = []   # offset None: next block
        block.append((JNE, 2, 0, None, _TYPES[rule.type]))
        bits = _bits(rule.access)
        if bits != ALL_ACCESS:
            block += [(MOV32_REG, 1, 3, 0, 0), (AND32, 1, 0, 0, bits)]
            if rule.allow:    # every requested bit must be allowed
                block.append((JNE_REG, 1, 3, None, 0))
            else:             # any requested bit that is denied
                block.append((JEQ, 1, 0, None, 0))
        if rule.major != WILDCARD:
            block.append((JNE, 4, 0, None, rule.major))
        if rule.minor != WILDCARD:
            block.append((JNE, 5, 0, None, rule.minor))
        block += [(MOV32, 0, 0, 0, int(rule.allow)), (EXIT, 0, 0, 0, 0)]
        for i, (code, dst, src, off, imm) in enumerate(block):
            insns.append((code, dst, src, len(block) - i - 1 if off is None else off, imm))
    insns += [(MOV32, 0, 0, 0, int(emulator.default_allow)), (EXIT, 0, 0, 0, 0)]
    return insns


def encode(insns: list[Insn]) -> bytes:
    """struct bpf_insn[]: u8 code, u8 dst:4 src:4, s16 off, s32 imm (little endian)."""
    return b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
                    for code, dst, src, off, imm in insns)


_NAMES = {LDXW: "LdXMemW", AND32: "AndImm32", RSH32: "RShImm32", MOV32: "MovImm32",
          MOV32_REG: "MovReg32", JNE: "JNEImm", JNE_REG: "JNEReg", JEQ: "JEqImm",
          EXIT: "Exit"}


def disassemble(insns: list[Insn]) -> list[str]:
    """One line per instruction, in the style of cilium/ebpf's asm (runc's test output)."""
    out = []
    for i, (code, dst, src, off, imm) in enumerate(insns):
        name = _NAMES[code]
        if code == EXIT:
            text = name
        elif code in (LDXW,):
            text = f"{name} dst: r{dst} src: r{src} off: {off} imm: {imm}"
        elif code == MOV32_REG:
            text = f"{name} dst: r{dst} src: r{src}"
        elif code == JNE_REG:
            text = f"{name} dst: r{dst} off: {off} src: r{src}"
        elif code in (JNE, JEQ):
            text = f"{name} dst: r{dst} off: {off} imm: {imm}"
        else:
            text = f"{name} dst: r{dst} imm: {imm}"
        out.append(f"{i}: {text}")
    return out


def attach(sys: Any, directory: str, rules: list[Rule], where: str | None) -> None:
    """Load the filter for ``rules`` and attach it to the cgroup ``directory``, replacing the
    device programs attached there before."""
    code = encode(program(emulate(rules)))
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ExecutionError(where, f"opening cgroup {directory}: {exc.strerror}",
                             errno=exc.errno) from None
    old: list[int] = []
    try:
        old = _attached(sys, dir_fd, where)
        try:
            prog_fd = sys.bpf_prog_load_cgroup_device(code, LICENSE)
        except OSError as exc:
            raise ExecutionError(where, f"loading the BPF device filter: {exc.strerror}",
                                 errno=exc.errno, hint=_hint(exc.errno)) from None
        try:
            sys.bpf_prog_attach_cgroup_device(dir_fd, prog_fd)
        except OSError as exc:
            raise ExecutionError(where, f"attaching the BPF device filter to {directory}: "
                                 f"{exc.strerror}", errno=exc.errno) from None
        finally:
            os.close(prog_fd)
        for fd in old:
            try:
                sys.bpf_prog_detach_cgroup_device(dir_fd, fd)
            except OSError as exc:
                raise ExecutionError(where, "detaching the previous BPF device filter "
                                     f"from {directory}: {exc.strerror}",
                                     errno=exc.errno) from None
    finally:
        for fd in old:
            os.close(fd)
        os.close(dir_fd)


def _attached(sys: Any, dir_fd: int, where: str | None) -> list[int]:
    """fds of the device programs attached to the cgroup itself (not inherited ones)."""
    try:
        ids = sys.bpf_prog_query_cgroup_device(dir_fd)
    except OSError as exc:
        raise ExecutionError(where, f"listing BPF device filters: {exc.strerror}",
                             errno=exc.errno, hint=_hint(exc.errno)) from None
    fds = []
    for prog_id in ids:
        try:
            fds.append(sys.bpf_prog_get_fd_by_id(prog_id))
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES, errno.ENOENT):
                continue    # another's program (LSM) or gone: it only adds restrictions
            raise ExecutionError(where, f"opening BPF program {prog_id}: {exc.strerror}",
                                 errno=exc.errno) from None
    return fds


def _hint(code: int | None) -> str | None:
    if code in (errno.EPERM, errno.EACCES):
        return "BPF device filters need CAP_SYS_ADMIN (or CAP_BPF) in the host"
    if code == errno.EINVAL:
        return "the kernel refused the program (CONFIG_CGROUP_BPF missing?)"
    return None
