"""linux.resources.devices (config-linux.md#allowed-device-list): the device controller.

v1 (Documentation/admin-guide/cgroup-v1/devices.rst): ``a`` is written to ``devices.deny``
first (deny everything), then each rule in the listed order (allow -> ``devices.allow``,
deny -> ``devices.deny``, as ``"c 1:3 rwm"``; type defaults to ``a``, major and minor to
``*``), then runc's default allow list, so that the default devices
(config-linux.md#default-devices), /dev/pts, /dev/ptmx and tun keep working and mknod(2)
is allowed. Like runc, the defaults come last: a rule cannot take them away.

v2 has no device files: the same rules, in the same order, become a
BPF_PROG_TYPE_CGROUP_DEVICE program (:mod:`.bpf_devices`) attached to the container's
cgroup by the ``cgroup-devices`` op (:func:`rules` gives them to the plugin).

Both backends replay the rules through :class:`.bpf_devices.Emulator` at validation: a deny
rule that the v1 kernel would silently ignore (it takes access from inside a wider wildcard
rule) is an error naming the rule, as in runc.
"""

from __future__ import annotations

from limpet.core.errors import ExecutionError, SpecError

from . import bpf_devices, cgfs
from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.resources.devices"
#: runc's libcontainer/specconv AllowedDevices, in its order.
DEFAULT_ALLOW: tuple[str, ...] = (
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)
_TYPES = ("a", "b", "c")


def validate(resources: Any) -> None:
    for i, rule in enumerate(resources.devices or []):
        where = f"{WHERE}[{i}]"
        if rule.type is not None and rule.type not in _TYPES:
            raise SpecError(f"{where}.type", f"{rule.type!r} is not a, b or c")
        if not rule.access:
            raise SpecError(f"{where}.access", "must not be empty (a combination of r, w "
                            "and m)")
        if set(rule.access) - set("rwm") or len(set(rule.access)) != len(rule.access):
            raise SpecError(f"{where}.access", f"{rule.access!r} is not a combination of r, "
                            "w and m")
        for name in ("major", "minor"):
            value = getattr(rule, name)
            if value is not None and value < -1:
                raise SpecError(f"{where}.{name}", f"{value} is not a device number")
    emulator = bpf_devices.Emulator()
    for where, rule in rules(resources):
        try:
            emulator.apply(rule)
        except ValueError as exc:
            raise SpecError(where, str(exc)) from None


def _number(value: int | None) -> str:
    return "*" if value is None or value == -1 else str(value)


def rule_string(rule: Any) -> str:
    """The v1 devices.allow/deny line for one rule (``a`` alone for "all devices")."""
    kind = rule.type or "a"
    if kind == "a":
        return "a"
    return f"{kind} {_number(rule.major)}:{_number(rule.minor)} {rule.access}"


def rules(resources: Any) -> list[tuple[str, bpf_devices.Rule]]:
    """(config path, rule) in the order they apply: deny all, the spec's, the defaults."""
    out = [(f"{WHERE} (deny all first)", bpf_devices.Rule(False, "a"))]
    for i, rule in enumerate(resources.devices or []):
        kind = rule.type or "a"
        out.append((f"{WHERE}[{i}]", bpf_devices.Rule(
            rule.allow, kind, -1 if rule.major is None else rule.major,
            -1 if rule.minor is None else rule.minor, rule.access or "")))
    out += [(f"{WHERE} (runc's default allow list)", bpf_devices.Rule.parse(f"allow {line}"))
            for line in DEFAULT_ALLOW]
    return out


def v1(resources: Any) -> list[Setting]:
    out = [Setting("devices", "devices.deny", "a", f"{WHERE} (deny all first)")]
    for i, rule in enumerate(resources.devices or []):
        target = "devices.allow" if rule.allow else "devices.deny"
        out.append(Setting("devices", target, rule_string(rule), f"{WHERE}[{i}]"))
    out += [Setting("devices", "devices.allow", line, f"{WHERE} (runc's default allow list)")
            for line in DEFAULT_ALLOW]
    return out


def v2(resources: Any) -> list[Setting]:
    """Nothing to write: the plugin plans a ``cgroup-devices`` op with :func:`rules`."""
    return []


def _setting(rule: bpf_devices.Rule, where: str) -> Setting:
    text = str(rule)                                    # "allow c 1:3 rw" / "deny a"
    verb, _, line = text.partition(" ")
    return Setting("devices", f"devices.{verb}", line, where)


def _listed(directory: str) -> bpf_devices.Emulator:
    """What the v1 cgroup at ``directory`` shows in ``devices.list``."""
    try:
        return bpf_devices.Emulator.from_list(cgfs.read(f"{directory}/devices.list", WHERE))
    except ValueError as exc:
        raise ExecutionError(WHERE, f"{directory}: {exc}") from None


def v1_transition(directory: str, resources: Any) -> list[Setting]:
    """``update`` on v1: the writes that take the cgroup at ``directory`` from what its
    ``devices.list`` shows to the rules of ``resources``, without the deny-all reset that
    would briefly take every device from the running container unless the default itself
    changes (runc's setV1)."""
    return [_setting(rule, f"{WHERE} (update)")
            for rule in _listed(directory).transition(target(resources))]


def v1_verify(directory: str, resources: Any) -> None:
    """Fail unless ``devices.list`` now shows exactly the rules of ``resources`` (in
    allow-all mode the kernel shows no exceptions: the mode alone is compared)."""
    wanted = target(resources)
    found = _listed(directory)
    same = found.default_allow == wanted.default_allow and (
        wanted.default_allow or found.rules == wanted.rules)
    if not same:
        raise ExecutionError(WHERE, f"{directory}/devices.list does not show the rules "
                             "written (another writer, or a parent cgroup that does not "
                             "allow them)")


def target(resources: Any) -> bpf_devices.Emulator:
    """The device cgroup state the rules of ``resources`` ask for."""
    return bpf_devices.emulate([rule for _, rule in rules(resources)])
