"""Pydantic models of the OCI runtime-spec 1.3 documents: the reference definition.

limpet validates config.json, state and features documents with :mod:`limpet.core.spec`,
a pydantic-free validator whose model classes and field tables (:mod:`.spectable`) are
generated from these models by ``python -m limpet.core.specgen``; tests/unit/test_spec.py
checks that the table is current and that both give the same result and the same errors.

The models mirror the JSON schemas shipped with the spec (``schema/config-schema.json``,
``config-linux.json``, ``defs.json``, ``defs-linux.json``, ``state-schema.json``,
``features-schema.json``, ``features-linux.json``):

* the ``required`` lists of the schema are mirrored exactly, every other property is optional
  (``None`` when absent; an explicit JSON ``null`` is read as "absent", like Go runtimes do);
* value types are strict: ``"1"`` is not an integer and ``1`` is not a boolean;
* enumerations, patterns and the integer ranges of ``defs.json`` (``uint32``, ``int64``, ...)
  are enforced, with messages that name the offending value;
* unknown properties are ignored as config.md#extensibility requires, but they are kept on the
  models (``extra="allow"``) so that :func:`unknown_fields` can list and log them.

Python field names are snake_case; JSON names (aliases) are the spec's camelCase ones.
Only the Linux platform (plus FreeBSD, because the spec's own schema tests check it) is
modelled; the other platform sections (``solaris``, ``windows``, ``vm``, ``zos``) are accepted
as plain JSON objects.

Public API: :func:`load_config`, :func:`load_state`, :func:`load_features`, :class:`Spec`,
:class:`State`, :class:`Features`, :func:`unknown_fields`, :func:`dump`.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .specbase import describe, errors_at, join

__all__ = [
    "Features",
    "Spec",
    "State",
    "dump",
    "load_config",
    "unknown_fields",
]



# --------------------------------------------------------------------------------------------
# Value types: integer ranges (defs.json), enumerations and patterns (defs-linux.json)
# --------------------------------------------------------------------------------------------

def _ranged(kind: str, low: int | None, high: int | None) -> BeforeValidator:
    """Reject integers outside ``[low, high]``; type checking is left to strict ``int``."""

    if low is not None and high is not None:
        bounds = f"{low} to {high}"
    elif low is not None:
        bounds = f"at least {low}"
    else:
        bounds = f"at most {high}"

    def check(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and (
            (low is not None and value < low) or (high is not None and value > high)
        ):
            raise PydanticCustomError(
                "int_range", "expected {kind} ({bounds}), got {value}",
                {"kind": kind, "bounds": bounds, "value": value},
            )
        return value

    check.limpet_check = ("int", low, high, f"{kind} ({bounds})")  # type: ignore[attr-defined]
    return BeforeValidator(check)


def _enum(noun: str, literal: Any) -> BeforeValidator:
    """Name an enumeration in its error message (the ``Literal`` still enforces the type)."""

    allowed: tuple[str, ...] = get_args(literal)
    expected = ", ".join(allowed)

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in allowed:
            raise PydanticCustomError(
                "enum", "unknown {noun} {value}; expected one of {expected}",
                {"noun": noun, "value": json.dumps(value), "expected": expected},
            )
        return value

    check.limpet_check = ("enum", noun, allowed, expected)  # type: ignore[attr-defined]
    return BeforeValidator(check)


def _pattern(noun: str, regex: str, hint: str) -> BeforeValidator:
    """Enforce a JSON-schema ``pattern`` (ECMA-262 semantics: ``$`` is the very end)."""

    compiled = re.compile(regex.removesuffix("$") + r"\Z" if regex.endswith("$") else regex)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not compiled.search(value):
            raise PydanticCustomError(
                "pattern", "invalid {noun} {value}: {hint}",
                {"noun": noun, "value": json.dumps(value), "hint": hint},
            )
        return value

    check.limpet_check = ("pattern", noun, regex, hint)  # type: ignore[attr-defined]
    return BeforeValidator(check)


Int32 = Annotated[int, _ranged("an int32", -(2**31), 2**31 - 1)]
Int64 = Annotated[int, _ranged("an int64", -(2**63), 2**63 - 1)]
UInt8 = Annotated[int, _ranged("a uint8", 0, 2**8 - 1)]
UInt16 = Annotated[int, _ranged("a uint16", 0, 2**16 - 1)]
UInt32 = Annotated[int, _ranged("a uint32", 0, 2**32 - 1)]
UInt64 = Annotated[int, _ranged("a uint64", 0, 2**64 - 1)]
FileMode = Annotated[int, _ranged("a file mode", 0, 0o777)]
PositiveInt = Annotated[int, _ranged("a positive integer", 1, None)]
NonNegativeInt = Annotated[int, _ranged("a non-negative integer", 0, None)]
StringMap = dict[str, str]

NamespaceTypeName = Literal["mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"]
NamespaceType = Annotated[NamespaceTypeName, _enum("namespace type", NamespaceTypeName)]

RootfsPropagationName = Literal["private", "shared", "slave", "unbindable"]
RootfsPropagation = Annotated[
    RootfsPropagationName, _enum("rootfs propagation", RootfsPropagationName)
]

SeccompArchName = Literal[
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
]
SeccompArch = Annotated[SeccompArchName, _enum("seccomp architecture", SeccompArchName)]

SeccompActionName = Literal[
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
]
SeccompAction = Annotated[SeccompActionName, _enum("seccomp action", SeccompActionName)]

SeccompFlagName = Literal[
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
]
SeccompFlag = Annotated[SeccompFlagName, _enum("seccomp flag", SeccompFlagName)]

SeccompOperatorName = Literal[
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
]
SeccompOperator = Annotated[
    SeccompOperatorName, _enum("seccomp operator", SeccompOperatorName)
]

MemoryPolicyModeName = Literal[
    "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY", "MPOL_LOCAL",
]
MemoryPolicyMode = Annotated[
    MemoryPolicyModeName, _enum("memory policy mode", MemoryPolicyModeName)
]

MemoryPolicyFlagName = Literal[
    "MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES",
]
MemoryPolicyFlag = Annotated[
    MemoryPolicyFlagName, _enum("memory policy flag", MemoryPolicyFlagName)
]

PersonalityDomainName = Literal["LINUX", "LINUX32"]
PersonalityDomain = Annotated[
    PersonalityDomainName, _enum("personality domain", PersonalityDomainName)
]

SchedulerPolicyName = Literal[
    "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
    "SCHED_DEADLINE",
]
SchedulerPolicy = Annotated[
    SchedulerPolicyName, _enum("scheduler policy", SchedulerPolicyName)
]

SchedulerFlagName = Literal[
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
]
SchedulerFlag = Annotated[SchedulerFlagName, _enum("scheduler flag", SchedulerFlagName)]

IOPriorityClassName = Literal["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]
IOPriorityClass = Annotated[
    IOPriorityClassName, _enum("I/O priority class", IOPriorityClassName)
]

ContainerStatusName = Literal["creating", "created", "running", "stopped"]
ContainerStatus = Annotated[ContainerStatusName, _enum("container status", ContainerStatusName)]

SharingModeName = Literal["disable", "new", "inherit"]
SharingMode = Annotated[SharingModeName, _enum("sharing mode", SharingModeName)]
SharingModeNoDisableName = Literal["new", "inherit"]
SharingModeNoDisable = Annotated[
    SharingModeNoDisableName, _enum("sharing mode", SharingModeNoDisableName)
]

RlimitType = Annotated[str, _pattern(
    "rlimit type", r"^RLIMIT_[A-Z]+$", "expected RLIMIT_ and capital letters, like RLIMIT_NOFILE")]
DeviceFileType = Annotated[str, _pattern(
    "device type", r"^[cbup]$", "expected one of c, b, u, p")]
HugepageSize = Annotated[str, _pattern(
    "hugepage size", r"^[1-9][0-9]*[KMG]B$", 'expected a size like "2MB", "64KB" or "1GB"')]
CPUList = Annotated[str, _pattern(
    "CPU list", r"^[0-9, -]*$", 'expected CPU numbers, commas and ranges, like "0-3,7"')]
MemBwSchema = Annotated[str, _pattern(
    "memory bandwidth schema", r"^MB:[^\n]*$", 'must start with "MB:" and hold no newline')]
CapabilityName = Annotated[str, _pattern(
    "capability name", r"^CAP_[A-Z_]+$", "expected CAP_ and capital letters, like CAP_KILL")]


# JSON names that are not the plain camelCase of the Python name. Kept out of ``Field(alias=...)``
# so that type checkers see the snake_case names as the constructor's keywords.
_IRREGULAR_ALIASES = {
    "block_io": "blockIO",
    "class_": "class",
    "class_id": "classID",
    "clos_id": "closID",
    "container_id": "containerID",
    "disable_oom_killer": "disableOOMKiller",
    "exec_cpu_affinity": "execCPUAffinity",
    "host_id": "hostID",
    "kernel_tcp": "kernelTCP",
    "throttle_read_iops_device": "throttleReadIOPSDevice",
    "throttle_write_iops_device": "throttleWriteIOPSDevice",
}


def _alias(name: str) -> str:
    """The spec's JSON name of a field: camelCase, with the spec's own capitalisations."""
    return _IRREGULAR_ALIASES.get(name) or to_camel(name)


class _Model(BaseModel):
    """Common configuration: camelCase aliases, strict types, unknown properties kept."""

    model_config = ConfigDict(
        alias_generator=_alias,
        populate_by_name=True,
        strict=True,
        extra="allow",
        # Build validators on first use: cheaper for commands that never read a config, and
        # building only the root model is faster overall than building every model eagerly.
        defer_build=True,
    )


# --------------------------------------------------------------------------------------------
# config.md
# --------------------------------------------------------------------------------------------

class Root(_Model):
    """config.md#root"""

    path: str
    readonly: bool | None = None


class IDMapping(_Model):
    """config-linux.md#user-namespace-mappings; also config.md#posix-platform-mounts (idmap)"""

    container_id: UInt32
    host_id: UInt32
    size: UInt32


class Mount(_Model):
    """config.md#mounts and config.md#posix-platform-mounts"""

    destination: str
    source: str | None = None
    options: list[str] | None = None
    type: str | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None


class ConsoleSize(_Model):
    """config.md#process (``consoleSize``)"""

    height: UInt64
    width: UInt64


class User(_Model):
    """config.md#user: POSIX ``uid``/``gid``/``umask``/``additionalGids``, Windows ``username``"""

    uid: UInt32 | None = None
    gid: UInt32 | None = None
    umask: UInt32 | None = None
    additional_gids: list[UInt32] | None = None
    username: str | None = None


class Capabilities(_Model):
    """config.md#linux-process (``capabilities``); names are free strings like ``CAP_KILL``"""

    bounding: list[str] | None = None
    effective: list[str] | None = None
    inheritable: list[str] | None = None
    permitted: list[str] | None = None
    ambient: list[str] | None = None


class Rlimit(_Model):
    """config.md#posix-process (``rlimits``)"""

    type: RlimitType
    hard: UInt64
    soft: UInt64


class Scheduler(_Model):
    """config.md#linux-process (``scheduler``, see sched_setattr(2))"""

    policy: SchedulerPolicy
    nice: Int32 | None = None
    priority: Int32 | None = None
    flags: list[SchedulerFlag] | None = None
    runtime: UInt64 | None = None
    deadline: UInt64 | None = None
    period: UInt64 | None = None


class IOPriority(_Model):
    """config.md#linux-process (``ioPriority``)"""

    class_: IOPriorityClass
    priority: Int32 | None = None


class ExecCPUAffinity(_Model):
    """config.md#linux-process (``execCPUAffinity``)"""

    initial: CPUList | None = None
    final: CPUList | None = None


class Process(_Model):
    """config.md#process, config.md#posix-process and config.md#linux-process"""

    terminal: bool | None = None
    console_size: ConsoleSize | None = None
    user: User | None = None
    args: list[str] | None = None
    command_line: str | None = None
    env: list[str] | None = None
    cwd: str
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] | None = None
    no_new_privileges: bool | None = None
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    scheduler: Scheduler | None = None
    selinux_label: str | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: ExecCPUAffinity | None = None


class Hook(_Model):
    """config.md#posix-platform-hooks (one hook entry)"""

    path: str
    args: list[str] | None = None
    env: list[str] | None = None
    timeout: PositiveInt | None = None


class Hooks(_Model):
    """config.md#posix-platform-hooks"""

    prestart: list[Hook] | None = None
    create_runtime: list[Hook] | None = None
    create_container: list[Hook] | None = None
    start_container: list[Hook] | None = None
    poststart: list[Hook] | None = None
    poststop: list[Hook] | None = None


# --------------------------------------------------------------------------------------------
# config-linux.md
# --------------------------------------------------------------------------------------------

class LinuxNamespace(_Model):
    """config-linux.md#namespaces"""

    type: NamespaceType
    path: str | None = None


class LinuxTimeOffset(_Model):
    """config-linux.md#offset-for-time-namespace (one clock)"""

    secs: Int64 | None = None
    nanosecs: UInt32 | None = None


class LinuxTimeOffsets(_Model):
    """config-linux.md#offset-for-time-namespace"""

    boottime: LinuxTimeOffset | None = None
    monotonic: LinuxTimeOffset | None = None


class LinuxDevice(_Model):
    """config-linux.md#devices"""

    type: DeviceFileType
    path: str
    file_mode: FileMode | None = None
    major: Int64 | None = None
    minor: Int64 | None = None
    uid: UInt32 | None = None
    gid: UInt32 | None = None


class LinuxNetDevice(_Model):
    """config-linux.md#network-devices (value of one ``netDevices`` entry)"""

    name: str | None = None


class LinuxDeviceCgroup(_Model):
    """config-linux.md#allowed-device-list"""

    allow: bool
    type: str | None = None
    major: Int64 | None = None
    minor: Int64 | None = None
    access: str | None = None


class LinuxMemory(_Model):
    """config-linux.md#memory"""

    limit: Int64 | None = None
    reservation: Int64 | None = None
    swap: Int64 | None = None
    kernel: Int64 | None = None
    kernel_tcp: Int64 | None = None
    swappiness: UInt64 | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class LinuxCPU(_Model):
    """config-linux.md#cpu"""

    shares: UInt64 | None = None
    quota: Int64 | None = None
    burst: UInt64 | None = None
    period: UInt64 | None = None
    realtime_runtime: Int64 | None = None
    realtime_period: UInt64 | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: Int64 | None = None


class LinuxWeightDevice(_Model):
    """config-linux.md#block-io (``weightDevice`` entry)"""

    major: Int64
    minor: Int64
    weight: UInt16 | None = None
    leaf_weight: UInt16 | None = None


class LinuxThrottleDevice(_Model):
    """config-linux.md#block-io (``throttle*Device`` entry)"""

    major: Int64
    minor: Int64
    rate: UInt64 | None = None


class LinuxBlockIO(_Model):
    """config-linux.md#block-io"""

    weight: UInt16 | None = None
    leaf_weight: UInt16 | None = None
    weight_device: list[LinuxWeightDevice] | None = None
    throttle_read_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_write_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_read_iops_device: list[LinuxThrottleDevice] | None = None
    throttle_write_iops_device: list[LinuxThrottleDevice] | None = None


class LinuxHugepageLimit(_Model):
    """config-linux.md#huge-page-limits"""

    page_size: HugepageSize
    limit: UInt64


class LinuxInterfacePriority(_Model):
    """config-linux.md#network (``priorities`` entry)"""

    name: str
    priority: UInt32


class LinuxNetwork(_Model):
    """config-linux.md#network"""

    class_id: UInt32 | None = None
    priorities: list[LinuxInterfacePriority] | None = None


class LinuxPids(_Model):
    """config-linux.md#pids"""

    limit: Int64


class LinuxRdma(_Model):
    """config-linux.md#rdma (value of one device entry)"""

    hca_handles: UInt32 | None = None
    hca_objects: UInt32 | None = None


class LinuxResources(_Model):
    """config-linux.md#control-groups"""

    devices: list[LinuxDeviceCgroup] | None = None
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    block_io: LinuxBlockIO | None = None
    hugepage_limits: list[LinuxHugepageLimit] | None = None
    network: LinuxNetwork | None = None
    pids: LinuxPids | None = None
    rdma: dict[str, LinuxRdma] | None = None
    unified: StringMap | None = None


class SyscallArg(_Model):
    """config-linux.md#seccomp (``syscalls[].args`` entry)"""

    index: UInt32
    value: UInt64
    value_two: UInt64 | None = None
    op: SeccompOperator


class Syscall(_Model):
    """config-linux.md#seccomp (``syscalls`` entry)"""

    names: list[str] = Field(min_length=1)
    action: SeccompAction
    errno_ret: UInt32 | None = None
    args: list[SyscallArg] | None = None


class Seccomp(_Model):
    """config-linux.md#seccomp"""

    default_action: SeccompAction
    default_errno_ret: UInt32 | None = None
    architectures: list[SeccompArch] | None = None
    flags: list[SeccompFlag] | None = None
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[Syscall] | None = None


class IntelRdt(_Model):
    """config-linux.md#intelrdt"""

    clos_id: str | None = None
    schemata: list[str] | None = None
    l3_cache_schema: str | None = None
    mem_bw_schema: MemBwSchema | None = None
    enable_monitoring: bool | None = None


class MemoryPolicy(_Model):
    """config-linux.md#memory-policy (``mode`` is REQUIRED in the text, not in the schema)"""

    mode: MemoryPolicyMode | None = None
    nodes: str | None = None
    flags: list[MemoryPolicyFlag] | None = None


class Personality(_Model):
    """config-linux.md#personality (``domain`` is REQUIRED in the text, not in the schema)"""

    domain: PersonalityDomain | None = None
    flags: list[str] | None = None


class Linux(_Model):
    """config-linux.md: the ``linux`` platform section"""

    namespaces: list[LinuxNamespace] | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None
    time_offsets: LinuxTimeOffsets | None = None
    devices: list[LinuxDevice] | None = None
    net_devices: dict[str, LinuxNetDevice] | None = None
    cgroups_path: str | None = None
    resources: LinuxResources | None = None
    rootfs_propagation: RootfsPropagation | None = None
    seccomp: Seccomp | None = None
    sysctl: StringMap | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    mount_label: str | None = None
    intel_rdt: IntelRdt | None = None
    personality: Personality | None = None
    memory_policy: MemoryPolicy | None = None


# --------------------------------------------------------------------------------------------
# config-freebsd.md (modelled only because the spec's schema tests check it)
# --------------------------------------------------------------------------------------------

class FreeBSDDevice(_Model):
    """config-freebsd.md#devices"""

    path: str | None = None
    mode: FileMode | None = None


class FreeBSDJailAllow(_Model):
    """config-freebsd.md#jail (``allow``)"""

    set_hostname: bool | None = None
    raw_sockets: bool | None = None
    chflags: bool | None = None
    mount: list[str] | None = None
    quotas: bool | None = None
    socket_af: bool | None = None
    mlock: bool | None = None
    reserved_ports: bool | None = None
    suser: bool | None = None


class FreeBSDJail(_Model):
    """config-freebsd.md#jail"""

    parent: str | None = None
    host: SharingModeNoDisable | None = None
    ip4: SharingMode | None = None
    ip4_addr: list[str] | None = None
    ip6: SharingMode | None = None
    ip6_addr: list[str] | None = None
    vnet: SharingModeNoDisable | None = None
    interface: str | None = None
    vnet_interfaces: list[str] | None = None
    sysvmsg: SharingMode | None = None
    sysvsem: SharingMode | None = None
    sysvshm: SharingMode | None = None
    enforce_statfs: UInt8 | None = None
    allow: FreeBSDJailAllow | None = None


class FreeBSD(_Model):
    """config-freebsd.md: the ``freebsd`` platform section"""

    devices: list[FreeBSDDevice] | None = None
    jail: FreeBSDJail | None = None


# --------------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------------

class Spec(_Model):
    """config.md: a bundle's ``config.json`` (schema/config-schema.json)."""

    oci_version: str
    root: Root | None = None
    mounts: list[Mount] | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    hooks: Hooks | None = None
    annotations: StringMap | None = None
    linux: Linux | None = None
    freebsd: FreeBSD | None = None
    # config.md#platform-specific-configuration: recognised, not modelled.
    solaris: dict[str, Any] | None = None
    windows: dict[str, Any] | None = None
    vm: dict[str, Any] | None = None
    zos: dict[str, Any] | None = None


class State(_Model):
    """runtime.md#state (schema/state-schema.json)."""

    oci_version: str
    id: str
    status: ContainerStatus
    pid: NonNegativeInt | None = None
    bundle: str
    annotations: StringMap | None = None


class _Enabled(_Model):
    enabled: bool | None = None


class FeaturesCgroup(_Model):
    """features-linux.md#cgroup"""

    v1: bool | None = None
    v2: bool | None = None
    systemd: bool | None = None
    systemd_user: bool | None = None
    rdma: bool | None = None


class FeaturesSeccomp(_Model):
    """features-linux.md#seccomp"""

    enabled: bool | None = None
    actions: list[SeccompAction] | None = None
    operators: list[SeccompOperator] | None = None
    archs: list[SeccompArch] | None = None
    known_flags: list[SeccompFlag] | None = None
    supported_flags: list[SeccompFlag] | None = None


class FeaturesApparmor(_Enabled):
    """features-linux.md#apparmor"""


class FeaturesSelinux(_Enabled):
    """features-linux.md#selinux"""


class FeaturesIntelRdt(_Model):
    """features-linux.md#intel-rdt (``schemata``/``monitoring`` are in the text, not the schema)"""

    enabled: bool | None = None
    schemata: bool | None = None
    monitoring: bool | None = None


class FeaturesIDMap(_Enabled):
    """features-linux.md#mountextensions (``idmap``)"""


class FeaturesMountExtensions(_Model):
    """features-linux.md#mountextensions"""

    idmap: FeaturesIDMap | None = None


class FeaturesNetDevices(_Enabled):
    """features-linux.md#netdevices"""


class FeaturesMemoryPolicy(_Model):
    """features-linux.md#memorypolicy (in the text, not in features-linux.json)"""

    modes: list[MemoryPolicyMode] | None = None
    flags: list[MemoryPolicyFlag] | None = None


class FeaturesLinux(_Model):
    """features-linux.md"""

    namespaces: list[NamespaceType] | None = None
    capabilities: list[CapabilityName] | None = None
    cgroup: FeaturesCgroup | None = None
    seccomp: FeaturesSeccomp | None = None
    apparmor: FeaturesApparmor | None = None
    selinux: FeaturesSelinux | None = None
    intel_rdt: FeaturesIntelRdt | None = None
    mount_extensions: FeaturesMountExtensions | None = None
    net_devices: FeaturesNetDevices | None = None
    memory_policy: FeaturesMemoryPolicy | None = None


class Features(_Model):
    """features.md (schema/features-schema.json): what ``limpet features`` prints."""

    oci_version_min: str
    oci_version_max: str
    hooks: list[str] | None = None
    mount_options: list[str] | None = None
    annotations: StringMap | None = None
    potentially_unsafe_config_annotations: list[str] | None = None
    linux: FeaturesLinux | None = None


# --------------------------------------------------------------------------------------------
# Paths, error messages, loading, dumping
# --------------------------------------------------------------------------------------------

def _format_loc(loc: tuple[str | int, ...]) -> str:
    path = ""
    for step in loc:
        if step == "[key]":  # pydantic's marker for a dict key (never a JSON property name here)
            continue
        path = join(path, step)
    return path


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "bool_type": "a boolean", "bool_parsing": "a boolean",
    "string_type": "a string", "literal_error": "a string",
    "list_type": "an array", "dict_type": "an object", "model_type": "an object",
    "model_attributes_type": "an object",
}


def _message(err: Any) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "missing required property"
    if kind == "literal_error" and isinstance(value, str):
        return f"invalid value {json.dumps(value)}; expected {ctx.get('expected', '')}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        items = "item" if n == 1 else "items"
        return f"expected at least {n} {items}, got {ctx.get('actual_length', 0)}"
    return str(err["msg"])


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(_format_loc(tuple(e["loc"])), _message(e)) for e in exc.errors()]


# pydantic >= 2.11 can refuse Python field names in input: a JSON document must use the spec's
# names (a "cgroups_path" key is an unknown property, not cgroupsPath).
_STRICT_NAMES: dict[str, Any] = (
    {"by_alias": True, "by_name": False}
    if "by_name" in inspect.signature(BaseModel.model_validate).parameters else {}
)


def load_config(source: str | bytes | dict[str, Any], *, origin: str = "config.json") -> Spec:
    """The reference validation of a config.json: the same verdict and errors as
    :func:`limpet.core.spec.load_config` (tests/unit/test_spec.py compares them)."""
    from .spec import decode  # the same JSON parsing (and syntax errors)

    data = decode(source, origin) if isinstance(source, str | bytes | bytearray) else source
    try:
        return Spec.model_validate(data, **_STRICT_NAMES)
    except ValidationError as exc:
        raise errors_at([(where or origin, message) for where, message in _errors(exc)]) \
            from None


def _walk(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            child = getattr(value, name)
            if child is not None:
                yield from _walk(child, join(path, field.alias or name))
        for key in value.model_extra or {}:
            yield join(path, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, BaseModel | list | dict):
                yield from _walk(item, join(path, str(key)))


def unknown_fields(model: BaseModel) -> list[str]:
    """Dotted JSON paths of every unknown (extra) property in the tree, e.g.
    ``linux.fooBar`` or ``mounts[2].weird``. Sections typed as plain objects (``solaris``,
    ``windows``, ``vm``, ``zos``) are recognised, so nothing inside them is reported."""
    return list(_walk(model, ""))


def dump(model: BaseModel) -> dict[str, Any]:
    """Serialise to a JSON-ready dict by alias, leaving out unset and ``None`` fields.

    Unknown properties are written back unchanged, so ``dump(load_config(x)) == x`` for a
    valid config (apart from key order and explicit ``null`` values).
    """
    result: dict[str, Any] = model.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )
    return result
