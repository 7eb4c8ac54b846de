"""The ``minimal-dev`` plugin: a stricter replacement for limpet's built-in ``devices``.

It claims the same spec path (``linux.devices``), so limpet refuses to load both: swap it in
with config.yaml alone::

    plugins:
      block: [devices]
      enable: [minimal-dev]
      options:
        minimal-dev: {nodes: ["null", zero]}

What it does differently from the built-in plugin (config-linux.md#default-devices):

- only the default devices named in the ``nodes`` option are created (the built-in creates
  all six: null, zero, full, random, urandom, tty);
- the /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr links are made, /dev/ptmx is not;
- a last op checks that /dev holds no device node besides the planned ones (a rootfs whose
  /dev is not a fresh tmpfs may bring its own), so "only the configured nodes exist" holds.

``linux.devices`` from config.json is honoured with the built-in's semantics (types
c, b, u, p; major/minor; fileMode; uid; gid) and errors name ``linux.devices[i]...``.

Its op kinds are namespaced by the plugin name (``minimal-dev:mknod``, ...), so they can
never clash with another plugin's; their handlers are in the lean :mod:`.ops` module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from limpet.core.errors import SpecError
from limpet.core.pluginapi import PluginInfo, hookimpl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import __version__

if TYPE_CHECKING:
    from limpet.core.context import PlanContext
    from limpet.core.plan import Plan
    from limpet.core.spec import LinuxDevice, Spec

NAME = "minimal-dev"
OPS = "limpet_minimal_dev.ops"
MKNOD = f"{NAME}:mknod"
LINKS = f"{NAME}:links"
AUDIT = f"{NAME}:audit"
#: The plan phase of every op of this plugin (container side, before pivot_root).
PHASE = "devices"

DeviceName = Literal["null", "zero", "full", "random", "urandom", "tty"]
#: config-linux.md#default-devices: name under /dev -> (major, minor) of a char device.
DEFAULT_DEVICES: dict[str, tuple[int, int]] = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7),
    "random": (1, 8), "urandom": (1, 9), "tty": (5, 0),
}
DEFAULT_NODES: tuple[DeviceName, ...] = ("null", "zero", "urandom")
#: The links this plugin makes; unlike the built-in, no /dev/ptmx.
LINK_TARGETS: dict[str, str] = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
OPTIONS_WHERE = f"plugins.options.{NAME}.nodes"


class Options(BaseModel):
    """The ``plugins.options.minimal-dev`` section of config.yaml (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[DeviceName] = Field(
        default_factory=lambda: list(DEFAULT_NODES),
        description="which default devices to create under /dev "
                    "(null, zero, full, random, urandom, tty)")

    @field_validator("nodes", mode="before")
    @classmethod
    def _bare_yaml_null(cls, value: Any) -> Any:
        """YAML reads an unquoted ``null`` as no value: in ``nodes: [null, zero]`` it can
        only mean /dev/null, so take it as such."""
        if isinstance(value, list):
            return ["null" if item is None else item for item in value]
        return value

    @field_validator("nodes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        """A device listed twice is a mistake in the file, not a request for two nodes."""
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return value


@hookimpl
def limpet_declare() -> PluginInfo:
    """Declare the plugin: it claims ``linux.devices`` and is opt-in."""
    return PluginInfo(name=NAME, version=__version__, claims=("linux.devices",),
                      options=Options, default_enabled=False,
                      description="a minimal /dev: only the configured device nodes, "
                                  "no /dev/ptmx; linux.devices")


@hookimpl
def limpet_op_handlers() -> dict[str, str]:
    """Register this plugin's own op kinds and their lean handlers."""
    return {MKNOD: f"{OPS}:mknod", LINKS: f"{OPS}:links", AUDIT: f"{OPS}:audit"}


def _options(ctx: PlanContext) -> Options:
    options = ctx.options_for(NAME)
    return options if isinstance(options, Options) else Options()


def _devices(spec: Spec) -> list[LinuxDevice]:
    return list((spec.linux.devices or []) if spec.linux else [])


def _mounted(spec: Spec) -> set[str]:
    return {os.path.normpath(m.destination) for m in spec.mounts or []}


@hookimpl
def limpet_validate(spec: Spec, ctx: PlanContext) -> None:
    """Check linux.devices (the built-in's rules) and that masked files can be masked."""
    seen: dict[str, int] = {}
    for i, dev in enumerate(_devices(spec)):
        where = f"linux.devices[{i}]"
        if not os.path.isabs(dev.path) or ".." in dev.path.split("/"):
            raise SpecError(f"{where}.path",
                            f"{dev.path!r} must be an absolute path without '..'")
        path = os.path.normpath(dev.path)
        if path in seen:
            raise SpecError(f"{where}.path", f"{dev.path} is also linux.devices[{seen[path]}]")
        seen[path] = i
        if dev.type != "p" and (dev.major is None or dev.minor is None):
            raise SpecError(where, f"a {dev.type!r} device needs major and minor numbers")
        if dev.file_mode is not None and dev.file_mode & ~0o7777:
            raise SpecError(f"{where}.fileMode", "only permission bits are allowed "
                            f"(got {oct(dev.file_mode)})")
    masked = spec.linux.masked_paths if spec.linux else None
    has_null = ("null" in _options(ctx).nodes or "/dev/null" in seen
                or "/dev/null" in _mounted(spec))
    if masked and not has_null:
        raise SpecError("linux.maskedPaths",
                        "masking a file binds /dev/null over it, but no /dev/null is "
                        f"configured: add null to {OPTIONS_WHERE} in config.yaml or a "
                        "/dev/null entry to linux.devices")


@hookimpl
def limpet_plan(spec: Spec, plan: Plan, ctx: PlanContext) -> None:
    """mknod the chosen default devices and linux.devices, link /dev/fd & co, then audit."""
    mounted = _mounted(spec)
    devices = _devices(spec)
    configured = {os.path.normpath(d.path) for d in devices}
    made: set[str] = set()
    for name in _options(ctx).nodes:
        path = f"/dev/{name}"
        if path in mounted or path in configured:
            continue   # the bundle provides it: its entry wins, as with the built-in
        major, minor = DEFAULT_DEVICES[name]
        plan.add(PHASE, MKNOD, OPTIONS_WHERE, path=path, type="c", major=major,
                 minor=minor, fileMode=0o666, uid=0, gid=0)
        made.add(path)
    for i, dev in enumerate(devices):
        plan.add(PHASE, MKNOD, f"linux.devices[{i}]", path=os.path.normpath(dev.path),
                 type=dev.type, major=dev.major, minor=dev.minor, fileMode=dev.file_mode,
                 uid=dev.uid, gid=dev.gid)
    links = {name: target for name, target in LINK_TARGETS.items()
             if f"/dev/{name}" not in mounted | configured}
    plan.add(PHASE, LINKS, "linux.devices (default links)", links=links)
    allowed = sorted(os.path.basename(p) for p in made | configured | mounted
                     if os.path.dirname(p) == "/dev")
    plan.add(PHASE, AUDIT, OPTIONS_WHERE, allowed=allowed)
