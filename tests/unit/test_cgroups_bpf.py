"""The cgroup v2 device filter without root: the v1 emulation, the generated program against
runc's known output (libcontainer/cgroups/devices/devicefilter_test.go), and the program's
meaning, checked by running it in a small eBPF interpreter against the v1 rules' answer."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest
from limpet.core.errors import LimpetError
from limpet.plugins.cgroups import bpf_devices as bd
from limpet.plugins.cgroups import devices

R = bd.Rule


def parse_runc(text: str) -> list[str]:
    """runc's expected listing -> "Name dst: rX ..." lines without index, offsets, labels."""
    out = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("//") or line.endswith(":") and "block" in line:
            continue
        body = line.split(": ", 1)[1].split(" <")[0]
        if body.startswith("J"):   # a jump to a label: runc prints off: -1
            body = body.replace(" off: -1", "")
        out.append(" ".join(body.split()))
    return out


def ours(insns: list[bd.Insn]) -> list[str]:
    out = []
    for line in bd.disassemble(insns):
        body = line.split(": ", 1)[1]
        words = body.split()
        if "off:" in words and words[0].startswith("J"):   # jumps: runc prints symbols
            i = words.index("off:")
            del words[i:i + 2]
        out.append(" ".join(words))
    return out


HEADER = """
        0: LdXMemW dst: r2 src: r1 off: 0 imm: 0
        1: AndImm32 dst: r2 imm: 65535
        2: LdXMemW dst: r3 src: r1 off: 0 imm: 0
        3: RShImm32 dst: r3 imm: 16
        4: LdXMemW dst: r4 src: r1 off: 4 imm: 0
        5: LdXMemW dst: r5 src: r1 off: 8 imm: 0
"""

RUNC_NIL = HEADER + """
block-0:
        6: MovImm32 dst: r0 imm: 0
        7: Exit
"""

# runc's TestDeviceFilter_BuiltInAllowList (its allow list without 5:1, in its order)
RUNC_ALLOW_LIST_RULES = [
    R(True, "c", -1, -1, "m"), R(True, "b", -1, -1, "m"), R(True, "c", 1, 3, "rwm"),
    R(True, "c", 1, 8, "rwm"), R(True, "c", 1, 7, "rwm"), R(True, "c", 5, 0, "rwm"),
    R(True, "c", 1, 5, "rwm"), R(True, "c", 1, 9, "rwm"), R(True, "c", 136, -1, "rwm"),
    R(True, "c", 5, 2, "rwm"), R(True, "c", 10, 200, "rwm"),
]
RUNC_ALLOW_LIST = HEADER + """
block-0:
        6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
        7: MovReg32 dst: r1 src: r3
        8: AndImm32 dst: r1 imm: 1
        9: JNEReg dst: r1 off: -1 src: r3 <block-1>
        10: MovImm32 dst: r0 imm: 1
        11: Exit
block-1:
        12: JNEImm dst: r2 off: -1 imm: 2 <block-2>
        13: MovReg32 dst: r1 src: r3
        14: AndImm32 dst: r1 imm: 1
        15: JNEReg dst: r1 off: -1 src: r3 <block-2>
        16: MovImm32 dst: r0 imm: 1
        17: Exit
block-2:
        18: JNEImm dst: r2 off: -1 imm: 2 <block-3>
        19: JNEImm dst: r4 off: -1 imm: 1 <block-3>
        20: JNEImm dst: r5 off: -1 imm: 3 <block-3>
        21: MovImm32 dst: r0 imm: 1
        22: Exit
block-3:
        23: JNEImm dst: r2 off: -1 imm: 2 <block-4>
        24: JNEImm dst: r4 off: -1 imm: 1 <block-4>
        25: JNEImm dst: r5 off: -1 imm: 5 <block-4>
        26: MovImm32 dst: r0 imm: 1
        27: Exit
block-4:
        28: JNEImm dst: r2 off: -1 imm: 2 <block-5>
        29: JNEImm dst: r4 off: -1 imm: 1 <block-5>
        30: JNEImm dst: r5 off: -1 imm: 7 <block-5>
        31: MovImm32 dst: r0 imm: 1
        32: Exit
block-5:
        33: JNEImm dst: r2 off: -1 imm: 2 <block-6>
        34: JNEImm dst: r4 off: -1 imm: 1 <block-6>
        35: JNEImm dst: r5 off: -1 imm: 8 <block-6>
        36: MovImm32 dst: r0 imm: 1
        37: Exit
block-6:
        38: JNEImm dst: r2 off: -1 imm: 2 <block-7>
        39: JNEImm dst: r4 off: -1 imm: 1 <block-7>
        40: JNEImm dst: r5 off: -1 imm: 9 <block-7>
        41: MovImm32 dst: r0 imm: 1
        42: Exit
block-7:
        43: JNEImm dst: r2 off: -1 imm: 2 <block-8>
        44: JNEImm dst: r4 off: -1 imm: 5 <block-8>
        45: JNEImm dst: r5 off: -1 imm: 0 <block-8>
        46: MovImm32 dst: r0 imm: 1
        47: Exit
block-8:
        48: JNEImm dst: r2 off: -1 imm: 2 <block-9>
        49: JNEImm dst: r4 off: -1 imm: 5 <block-9>
        50: JNEImm dst: r5 off: -1 imm: 2 <block-9>
        51: MovImm32 dst: r0 imm: 1
        52: Exit
block-9:
        53: JNEImm dst: r2 off: -1 imm: 2 <block-10>
        54: JNEImm dst: r4 off: -1 imm: 10 <block-10>
        55: JNEImm dst: r5 off: -1 imm: 200 <block-10>
        56: MovImm32 dst: r0 imm: 1
        57: Exit
block-10:
        58: JNEImm dst: r2 off: -1 imm: 2 <block-11>
        59: JNEImm dst: r4 off: -1 imm: 136 <block-11>
        60: MovImm32 dst: r0 imm: 1
        61: Exit
block-11:
        62: MovImm32 dst: r0 imm: 0
        63: Exit
"""

RUNC_PRIVILEGED_EXCEPT_ONE = HEADER + """
block-0:
         6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
         7: JNEImm dst: r4 off: -1 imm: 8 <block-1>
         8: JNEImm dst: r5 off: -1 imm: 0 <block-1>
         9: MovImm32 dst: r0 imm: 0
        10: Exit
block-1:
        11: MovImm32 dst: r0 imm: 1
        12: Exit
"""


@pytest.mark.parametrize("rules, expected", [
    ([], RUNC_NIL),
    (RUNC_ALLOW_LIST_RULES, RUNC_ALLOW_LIST),
    ([R(True, "a")], HEADER + "6: MovImm32 dst: r0 imm: 1\n7: Exit"),
    ([R(True, "a"), R(False, "b", 8, 0, "rwm")], RUNC_PRIVILEGED_EXCEPT_ONE),
    # runc's TestDeviceFilter_Weird: a rule before "a" is forgotten
    ([R(False, "b", 8, 1, "rwm"), R(True, "a"), R(False, "b", 8, 2, "rwm")],
     RUNC_PRIVILEGED_EXCEPT_ONE.replace("imm: 0 <block-1>\n         9", "imm: 2 <block-1>\n"
                                        "         9")),
])
def test_program_is_runcs(rules: list[bd.Rule], expected: str) -> None:
    assert ours(bd.program(bd.emulate(rules))) == parse_runc(expected)


def test_jumps_land_on_the_next_block() -> None:
    insns = bd.program(bd.emulate(RUNC_ALLOW_LIST_RULES))
    starts = [6] + [i + 1 for i, insn in enumerate(insns) if insn[0] == bd.EXIT][:-1]
    for i, (code, _, _, off, _) in enumerate(insns):
        if code in (bd.JNE, bd.JNE_REG, bd.JEQ):
            target = i + 1 + off
            assert target in starts and target > i
            assert not any(i < s < target for s in starts)   # the very next block


def test_encoding_is_struct_bpf_insn() -> None:
    raw = bd.encode([(bd.LDXW, 2, 1, 4, 0), (bd.JNE, 4, 0, -3, 136), (bd.EXIT, 0, 0, 0, 0)])
    assert raw == (struct.pack("<BBhi", 0x61, 0x12, 4, 0)
                   + struct.pack("<BBhi", 0x55, 0x04, -3, 136)
                   + struct.pack("<BBhi", 0x95, 0, 0, 0))


def test_rules_round_trip_through_text() -> None:
    for rule in (R(False, "a"), R(True, "c", 1, 3, "rwm"), R(False, "b", -1, 2, "w")):
        assert R.parse(str(rule)) == rule
    assert str(R(True, "c", 136, -1, "rwm")) == "allow c 136:* rwm"


# --- the emulator: the v1 kernel's semantics --------------------------------------------------

def test_emulator_merges_and_removes_access_bits() -> None:
    emu = bd.emulate([R(False, "a"), R(True, "c", 1, 3, "r"), R(True, "c", 1, 3, "w"),
                      R(False, "c", 1, 3, "r")])
    assert emu.ordered() == [R(True, "c", 1, 3, "w")]
    emu.apply(R(False, "c", 1, 3, "w"))
    assert emu.ordered() == []


def test_emulator_refuses_to_punch_a_hole_in_a_wildcard() -> None:
    emu = bd.emulate([R(False, "a"), R(True, "c", -1, -1, "m")])
    with pytest.raises(ValueError, match="wider rule allow c \\*:\\* m"):
        emu.apply(R(False, "c", 1, 3, "m"))
    emu.apply(R(False, "c", 1, 3, "rw"))     # no overlap with the wildcard: fine


# --- the program's meaning: an eBPF interpreter against the v1 answer -------------------------

def run(insns: list[bd.Insn], dev_type: int, access: int, major: int, minor: int) -> int:
    mem = struct.pack("<III", dev_type | access << 16, major, minor)
    regs = [0] * 11
    pc = 0
    for _ in range(10_000):
        code, dst, src, off, imm = insns[pc]
        pc += 1
        if code == bd.LDXW:
            regs[dst] = struct.unpack_from("<I", mem, off)[0]
        elif code == bd.AND32:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif code == bd.RSH32:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == bd.MOV32:
            regs[dst] = imm & 0xFFFFFFFF
        elif code == bd.MOV32_REG:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == bd.JNE:
            pc += off if regs[dst] != imm else 0
        elif code == bd.JNE_REG:
            pc += off if regs[dst] != regs[src] else 0
        elif code == bd.JEQ:
            pc += off if regs[dst] == imm else 0
        elif code == bd.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
    raise AssertionError("program did not exit")


def v1_allows(emu: bd.Emulator, dev_type: str, access: int, major: int, minor: int) -> bool:
    """The kernel's devcgroup_legacy_check_permission on the emulated exception list."""
    def matches(key: tuple[str, int, int]) -> bool:
        t, ma, mi = key
        return t == dev_type and ma in (-1, major) and mi in (-1, minor)

    if emu.default_allow:   # denied if any exception overlaps partially
        return not any(matches(k) and bits & access for k, bits in emu.rules.items())
    return any(matches(k) and bits & access == access for k, bits in emu.rules.items())


RULE_SETS = {
    "runc defaults after deny all": [R.parse(r) for r in
                                    ["deny a"] + [f"allow {x}" for x in devices.DEFAULT_ALLOW]],
    "allow fuse rw, then deny w": [R(False, "a"), R(True, "c", 10, 229, "rw"),
                                   R(False, "c", 10, 229, "w"), R(True, "b", 8, -1, "r")],
    "privileged minus one": [R(True, "a"), R(False, "b", 8, 0, "rwm"),
                             R(False, "c", 1, 3, "w"), R(False, "c", -1, 5, "m")],
}
DEVICES = [("c", 1, 3), ("c", 1, 5), ("c", 10, 229), ("c", 10, 200), ("c", 136, 7),
           ("c", 5, 1), ("b", 8, 0), ("b", 8, 1), ("b", 7, 0), ("c", 4, 5)]


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_program_answers_like_the_v1_kernel(name: str) -> None:
    emu = bd.emulate(RULE_SETS[name])
    insns = bd.program(emu)
    for (kind, major, minor), access in itertools.product(DEVICES, range(1, 8)):
        got = run(insns, bd._TYPES[kind], access, major, minor)
        assert got == int(v1_allows(emu, kind, access, major, minor)), \
            (name, kind, major, minor, access)


def test_default_rules_allow_the_default_devices_only() -> None:
    insns = bd.program(bd.emulate(RULE_SETS["runc defaults after deny all"]))
    rw = bd.ACC_READ | bd.ACC_WRITE
    assert run(insns, bd.DEV_CHAR, rw, 1, 3) == 1           # /dev/null
    assert run(insns, bd.DEV_CHAR, rw, 136, 4) == 1         # a pty
    assert run(insns, bd.DEV_CHAR, rw, 10, 229) == 0        # /dev/fuse
    assert run(insns, bd.DEV_BLOCK, bd.ACC_READ, 254, 0) == 0
    assert run(insns, bd.DEV_BLOCK, bd.ACC_MKNOD, 254, 0) == 1   # mknod of anything


# --- v1 updates: devices.list and the fewest writes (runc's Emulator.Transition) -------------

def test_emulator_reads_devices_list() -> None:
    emu = bd.Emulator.from_list("c 1:3 rwm\nc *:* m\nb 8:* r\n")
    assert not emu.default_allow
    assert emu.rules == {("c", 1, 3): 7, ("c", -1, -1): bd.ACC_MKNOD, ("b", 8, -1): 2}
    assert bd.Emulator.from_list("a *:* rwm\n").default_allow
    assert bd.Emulator.from_list("") == bd.Emulator()          # deny all, no exceptions
    with pytest.raises(ValueError, match="unexpected line 'x 1:3'"):
        bd.Emulator.from_list("x 1:3")


def kernel_write(emu: bd.Emulator, rule: bd.Rule) -> None:
    """A devices.allow / devices.deny write as the v1 kernel does it: a matching verb
    removes bits from the exact exception only (no hole check, unlike validation)."""
    if rule.type == "a" or rule.allow != emu.default_allow:
        emu.apply(rule)
        return
    key = (rule.type, rule.major, rule.minor)
    left = emu.rules.get(key, 0) & ~bd._bits(rule.access)
    if left:
        emu.rules[key] = left
    else:
        emu.rules.pop(key, None)


FUSE_RW = R(True, "c", 10, 229, "rw")
DEFAULTS = RULE_SETS["runc defaults after deny all"]


@pytest.mark.parametrize("source, target, expected", [
    (DEFAULTS, DEFAULTS, []),
    (DEFAULTS, [*DEFAULTS, FUSE_RW], ["allow c 10:229 rw"]),
    ([*DEFAULTS, FUSE_RW], DEFAULTS, ["deny c 10:229 rw"]),
    ([*DEFAULTS, FUSE_RW], [*DEFAULTS, R(True, "c", 10, 229, "rm")],
     ["deny c 10:229 w", "allow c 10:229 m"]),
    ([R(True, "a")], DEFAULTS, ["deny a", *(f"allow {x}" for x in [
        "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm"])]),
    (DEFAULTS, [R(True, "a")], ["allow a"]),
    ([R(True, "a")], [R(True, "a"), R(False, "c", 1, 3, "w")],   # deny exceptions unseen
     ["allow a", "deny c 1:3 w"]),
], ids=["same", "grant", "take", "change bits", "from allow-all", "to allow-all",
        "allow-all again"])
def test_transition_writes_the_fewest_rules(source: list[bd.Rule], target: list[bd.Rule],
                                            expected: list[str]) -> None:
    rules = bd.emulate(source).transition(bd.emulate(target))
    assert [str(r) for r in rules] == expected


@pytest.mark.parametrize("source", sorted(RULE_SETS))
@pytest.mark.parametrize("target", sorted(RULE_SETS))
def test_transition_reaches_the_target_without_a_reset_when_the_default_stays(
        source: str, target: str) -> None:
    """Through devices.list: what the kernel shows of the source, then the transition's
    writes, must end in the target's state; deny-all mode keeps it without a reset."""
    wanted = bd.emulate(RULE_SETS[target])
    shown = bd.emulate(RULE_SETS[source])
    listed = "a *:* rwm" if shown.default_allow else "\n".join(
        str(r).split(" ", 1)[1] for r in shown.ordered())
    seen = bd.Emulator.from_list(listed)
    rules = seen.transition(wanted)
    for rule in rules:
        kernel_write(shown, rule)
    assert shown.default_allow == wanted.default_allow
    assert shown.rules == wanted.rules or wanted.default_allow and not seen.rules
    resets = [r for r in rules if r.type == "a"]
    assert bool(resets) == (seen.default_allow or seen.default_allow != wanted.default_allow)


def test_a_devices_list_of_another_shape_is_an_error_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "devices.list").write_text("c 1:3 rwm\nc 1:x rwm\n")
    with pytest.raises(LimpetError) as caught:
        devices.v1_transition(str(tmp_path), SimpleNamespace(devices=None))
    assert str(caught.value).startswith("linux.resources.devices: ")
    assert "unexpected line 'c 1:x rwm'" in str(caught.value)
