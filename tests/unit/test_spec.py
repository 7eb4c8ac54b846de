"""Tests of limpet.core.spec: the OCI runtime-spec 1.3 models (config, state, features).

limpet.core.spec validates with the generated tables of limpet.core.spectable; the pydantic
reference models (limpet.core.specmodels) are compared with the spec's JSON schemas, and the
two validators with each other on the spec's examples and on damaged configs.

The spec's own example configs and JSON schemas are read from the runtime-spec copy in the
workplace's shared folder (``shared/runtime-spec`` beside the repository, or the directory in
``$LIMPET_RUNTIME_SPEC``); the tests that need them are skipped when it is absent.
"""

from __future__ import annotations

import copy
import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from limpet.core import spec as spec_module
from limpet.core import specgen, specmodels
from limpet.core.errors import SpecError
from limpet.core.spec import (
    Features,
    Spec,
    State,
    dump,
    load_config,
    load_features,
    load_state,
    unknown_fields,
)
from pydantic import BaseModel


def _find_spec_dir() -> Path | None:
    env = os.environ.get("LIMPET_RUNTIME_SPEC")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [parent / "shared" / "runtime-spec" for parent in here.parents]
    candidates.append(Path("/work/shared/runtime-spec"))
    for candidate in candidates:
        if (candidate / "schema" / "config-schema.json").is_file():
            return candidate
    return None


SPEC_DIR = _find_spec_dir()
needs_spec = pytest.mark.skipif(SPEC_DIR is None, reason="shared/runtime-spec not found")
EXAMPLES = SPEC_DIR / "schema" / "test" / "config" if SPEC_DIR else Path("/nonexistent")
GOOD = sorted(p.name for p in (EXAMPLES / "good").glob("*.json")) if SPEC_DIR else []
BAD = sorted(p.name for p in (EXAMPLES / "bad").glob("*.json")) if SPEC_DIR else []

MINIMAL: dict[str, Any] = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}}


def config(**extra: Any) -> dict[str, Any]:
    """A minimal valid config with top-level properties added."""
    return {**copy.deepcopy(MINIMAL), **extra}


def error_of(source: Any, **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_config(source, **kwargs)
    return info.value


# --------------------------------------------------------------------------------------------
# The spec's own examples
# --------------------------------------------------------------------------------------------

@needs_spec
@pytest.mark.parametrize("name", GOOD)
def test_good_example_loads_and_round_trips(name: str) -> None:
    text = (EXAMPLES / "good" / name).read_text()
    spec = load_config(text)
    assert isinstance(spec, Spec)
    assert dump(spec) == json.loads(text)


# Each bad example and what is wrong in it.
BAD_EXPECTED: dict[str, tuple[str, str]] = {
    # SharingModeNoDisable: vnet may be "new" or "inherit", not "disable".
    "freebsd-vnet-disable.json": (
        "freebsd.jail.vnet", 'unknown sharing mode "disable"; expected one of new, inherit'),
    "invalid-json.json": ("config.json", "invalid JSON at line 1 column 2: "),
    # "64kB": the unit must be upper case (^[1-9][0-9]*[KMG]B$).
    "linux-hugepage.json": (
        "linux.resources.hugepageLimits[0].pageSize", 'invalid hugepage size "64kB"'),
    "linux-netdevice.json": ("linux.netDevices.eth0.name", "expected a string, got integer 23"),
    "linux-rdma.json": (
        "linux.resources.rdma.mlx5_1.hcaHandles",
        'expected an integer, got string "not a uint32"'),
}


@needs_spec
def test_every_bad_example_has_an_expectation() -> None:
    assert sorted(BAD_EXPECTED) == BAD


@needs_spec
@pytest.mark.parametrize("name", BAD)
def test_bad_example_is_rejected_at_its_path(name: str) -> None:
    where, message = BAD_EXPECTED[name]
    err = error_of((EXAMPLES / "bad" / name).read_bytes())
    assert err.where == where
    assert err.message.startswith(message)
    assert err.errors[0] == (err.where, err.message)  # type: ignore[attr-defined]
    assert str(err).startswith(f"{where}: ")


# --------------------------------------------------------------------------------------------
# Strict types, ranges, enumerations, patterns
# --------------------------------------------------------------------------------------------

def test_string_is_not_an_integer() -> None:
    err = error_of(config(process={"cwd": "/", "user": {"uid": "1", "gid": 0}}))
    assert (err.where, err.message) == ("process.user.uid", 'expected an integer, got string "1"')


def test_integer_is_not_a_boolean() -> None:
    err = error_of(config(process={"cwd": "/", "terminal": 1}))
    assert (err.where, err.message) == ("process.terminal", "expected a boolean, got integer 1")


def test_boolean_is_not_an_integer() -> None:
    err = error_of(config(process={"cwd": "/", "user": {"uid": 0, "gid": True}}))
    assert (err.where, err.message) == ("process.user.gid", "expected an integer, got boolean true")


def test_float_is_not_an_integer() -> None:
    err = error_of(config(process={"cwd": "/", "oomScoreAdj": 1.5}))
    assert err.where == "process.oomScoreAdj"
    assert err.message == "expected an integer, got number 1.5"


def test_string_expected() -> None:
    err = error_of(config(hostname=5))
    assert (err.where, err.message) == ("hostname", "expected a string, got integer 5")


def test_object_and_array_expected() -> None:
    assert error_of(config(linux=[])).message == "expected an object, got an array"
    err = error_of(config(mounts={"destination": "/x"}))
    assert (err.where, err.message) == ("mounts", "expected an array, got an object")


def test_negative_uid() -> None:
    err = error_of(config(process={"cwd": "/", "user": {"uid": -1, "gid": 0}}))
    assert err.where == "process.user.uid"
    assert err.message == "expected a uint32 (0 to 4294967295), got -1"


@pytest.mark.parametrize(("patch", "where"), [
    ({"process": {"cwd": "/", "user": {"uid": 2**32}}}, "process.user.uid"),
    ({"process": {"cwd": "/", "rlimits": [{"type": "RLIMIT_CORE", "hard": 2**64, "soft": 0}]}},
     "process.rlimits[0].hard"),
    ({"process": {"cwd": "/", "scheduler": {"policy": "SCHED_OTHER", "nice": -(2**31) - 1}}},
     "process.scheduler.nice"),
    ({"linux": {"resources": {"memory": {"limit": 2**63}}}}, "linux.resources.memory.limit"),
    ({"linux": {"resources": {"blockIO": {"weight": 65536}}}}, "linux.resources.blockIO.weight"),
    ({"linux": {"devices": [{"type": "c", "path": "/dev/x", "fileMode": 512}]}},
     "linux.devices[0].fileMode"),
    ({"hooks": {"poststart": [{"path": "/bin/true", "timeout": 0}]}},
     "hooks.poststart[0].timeout"),
    ({"freebsd": {"jail": {"enforceStatfs": 256}}}, "freebsd.jail.enforceStatfs"),
])
def test_integer_ranges(patch: dict[str, Any], where: str) -> None:
    assert error_of(config(**patch)).where == where


def test_range_limits_are_inclusive() -> None:
    spec = load_config(config(
        process={"cwd": "/", "user": {"uid": 2**32 - 1, "gid": 0},
                 "rlimits": [{"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 0}]},
        linux={"resources": {"memory": {"limit": -(2**63), "swap": 2**63 - 1}},
               "devices": [{"type": "c", "path": "/dev/x", "fileMode": 511, "major": -1}]},
    ))
    assert spec.process is not None and spec.process.rlimits is not None
    assert spec.process.rlimits[0].hard == 2**64 - 1


def test_unknown_namespace_type() -> None:
    err = error_of(config(linux={"namespaces": [{"type": "foo"}, {"type": "pid"}]}))
    assert err.where == "linux.namespaces[0].type"
    assert err.message == (
        'unknown namespace type "foo"; expected one of '
        "mount, pid, network, uts, ipc, user, cgroup, time")


def test_namespace_type_must_be_a_string() -> None:
    err = error_of(config(linux={"namespaces": [{"type": "pid"}, {"type": 3}]}))
    assert err.where == "linux.namespaces[1].type"
    assert err.message == "expected a string, got integer 3"


@pytest.mark.parametrize(("patch", "where", "message"), [
    ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}},
     "linux.seccomp.defaultAction", 'unknown seccomp action "SCMP_ACT_NOPE"'),
    ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86"]}}},
     "linux.seccomp.architectures[0]", 'unknown seccomp architecture "x86"'),
    ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["TSYNC"]}}},
     "linux.seccomp.flags[0]", 'unknown seccomp flag "TSYNC"'),
    ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "=="}]}]}}},
     "linux.seccomp.syscalls[0].args[0].op", 'unknown seccomp operator "=="'),
    ({"linux": {"rootfsPropagation": "rprivate"}},
     "linux.rootfsPropagation", 'unknown rootfs propagation "rprivate"'),
    ({"linux": {"memoryPolicy": {"mode": "MPOL_X"}}},
     "linux.memoryPolicy.mode", 'unknown memory policy mode "MPOL_X"'),
    ({"linux": {"memoryPolicy": {"flags": ["MPOL_F_X"]}}},
     "linux.memoryPolicy.flags[0]", 'unknown memory policy flag "MPOL_F_X"'),
    ({"linux": {"personality": {"domain": "LINUX64"}}},
     "linux.personality.domain", 'unknown personality domain "LINUX64"'),
    ({"process": {"cwd": "/", "scheduler": {"policy": "SCHED_NORMAL"}}},
     "process.scheduler.policy", 'unknown scheduler policy "SCHED_NORMAL"'),
    ({"process": {"cwd": "/", "scheduler": {"policy": "SCHED_FIFO", "flags": ["RESET"]}}},
     "process.scheduler.flags[0]", 'unknown scheduler flag "RESET"'),
    ({"process": {"cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_NONE"}}},
     "process.ioPriority.class", 'unknown I/O priority class "IOPRIO_CLASS_NONE"'),
    ({"process": {"cwd": "/", "rlimits": [{"type": "RLIMIT_nofile", "hard": 1, "soft": 1}]}},
     "process.rlimits[0].type", 'invalid rlimit type "RLIMIT_nofile"'),
    ({"process": {"cwd": "/", "execCPUAffinity": {"initial": "0-3;7"}}},
     "process.execCPUAffinity.initial", 'invalid CPU list "0-3;7"'),
    ({"linux": {"devices": [{"type": "x", "path": "/dev/x"}]}},
     "linux.devices[0].type", 'invalid device type "x"'),
    ({"linux": {"devices": [{"type": "cc", "path": "/dev/x"}]}},
     "linux.devices[0].type", 'invalid device type "cc"'),
    ({"linux": {"resources": {"hugepageLimits": [{"pageSize": "02MB", "limit": 1}]}}},
     "linux.resources.hugepageLimits[0].pageSize", 'invalid hugepage size "02MB"'),
    # JSON-schema "$" is the very end of the string: a trailing newline does not match.
    ({"linux": {"intelRdt": {"memBwSchema": "MB:0=20\n"}}},
     "linux.intelRdt.memBwSchema", 'invalid memory bandwidth schema "MB:0=20\\n"'),
    ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": [], "action": "SCMP_ACT_ERRNO"}]}}},
     "linux.seccomp.syscalls[0].names", "expected at least 1 item, got 0"),
])
def test_enumerations_and_patterns(patch: dict[str, Any], where: str, message: str) -> None:
    err = error_of(config(**patch))
    assert err.where == where
    assert err.message.startswith(message)


def test_enumerations_and_patterns_accept_valid_values() -> None:
    spec = load_config(config(
        process={"cwd": "/", "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}],
                 "scheduler": {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RECLAIM"],
                               "runtime": 1, "deadline": 2, "period": 3},
                 "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 0},
                 "execCPUAffinity": {"initial": "0-3, 7", "final": ""}},
        linux={"rootfsPropagation": "unbindable",
               "devices": [{"type": t, "path": f"/dev/{t}"} for t in "cbup"],
               "intelRdt": {"closID": "g", "memBwSchema": "MB:0=20;1=70",
                            "schemata": ["L3:0=7f0"], "enableMonitoring": True},
               "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-3,7",
                                "flags": ["MPOL_F_STATIC_NODES"]},
               "personality": {"domain": "LINUX32", "flags": []},
               "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_RISCV64"],
                           "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                           "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
                           "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY",
                                         "errnoRet": 38,
                                         "args": [{"index": 1, "value": 2**64 - 1,
                                                   "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}},
    ))
    assert spec.process is not None and spec.process.io_priority is not None
    assert spec.process.io_priority.class_ == "IOPRIO_CLASS_RT"
    assert spec.linux is not None and spec.linux.seccomp is not None
    assert spec.linux.seccomp.syscalls is not None
    assert spec.linux.seccomp.syscalls[0].args is not None
    assert spec.linux.seccomp.syscalls[0].args[0].op == "SCMP_CMP_MASKED_EQ"


def test_null_means_absent_for_optional_but_not_for_required() -> None:
    spec = load_config(config(hostname=None, linux=None))
    assert spec.hostname is None and spec.linux is None
    err = error_of({"ociVersion": None})
    assert (err.where, err.message) == ("ociVersion", "expected a string, got null")


# --------------------------------------------------------------------------------------------
# Required properties (the schema's "required" lists)
# --------------------------------------------------------------------------------------------

def test_only_oci_version_is_required() -> None:
    spec = load_config({"ociVersion": "1.3.0"})
    assert spec.oci_version == "1.3.0" and spec.root is None and spec.process is None


@pytest.mark.parametrize(("document", "where"), [
    ({}, "ociVersion"),
    (config(root={"readonly": True}), "root.path"),
    (config(process={"args": ["sh"]}), "process.cwd"),
    (config(process={"cwd": "/", "consoleSize": {"height": 10}}), "process.consoleSize.width"),
    (config(process={"cwd": "/", "ioPriority": {"priority": 1}}), "process.ioPriority.class"),
    (config(process={"cwd": "/", "scheduler": {"nice": 1}}), "process.scheduler.policy"),
    (config(process={"cwd": "/", "rlimits": [{"type": "RLIMIT_CORE", "hard": 1}]}),
     "process.rlimits[0].soft"),
    (config(mounts=[{"destination": "/proc"}, {"source": "tmpfs"}]), "mounts[1].destination"),
    (config(mounts=[{"destination": "/m", "uidMappings": [{"containerID": 0, "size": 1}]}]),
     "mounts[0].uidMappings[0].hostID"),
    (config(hooks={"poststop": [{"path": "/a"}, {"args": ["x"]}]}), "hooks.poststop[1].path"),
    (config(linux={"namespaces": [{"path": "/proc/1/ns/net"}]}), "linux.namespaces[0].type"),
    (config(linux={"gidMappings": [{"hostID": 0, "size": 1}]}),
     "linux.gidMappings[0].containerID"),
    (config(linux={"uidMappings": [{"containerID": 0, "hostID": 1000}]}),
     "linux.uidMappings[0].size"),
    (config(linux={"devices": [{"path": "/dev/fuse"}]}), "linux.devices[0].type"),
    (config(linux={"devices": [{"type": "c"}]}), "linux.devices[0].path"),
    (config(linux={"resources": {"devices": [{"access": "rwm"}]}}),
     "linux.resources.devices[0].allow"),
    (config(linux={"resources": {"pids": {}}}), "linux.resources.pids.limit"),
    (config(linux={"resources": {"hugepageLimits": [{"pageSize": "2MB"}]}}),
     "linux.resources.hugepageLimits[0].limit"),
    (config(linux={"resources": {"blockIO": {"weightDevice": [{"major": 8}]}}}),
     "linux.resources.blockIO.weightDevice[0].minor"),
    (config(linux={"resources": {"blockIO": {"throttleReadIOPSDevice": [{"minor": 0}]}}}),
     "linux.resources.blockIO.throttleReadIOPSDevice[0].major"),
    (config(linux={"resources": {"network": {"priorities": [{"name": "eth0"}]}}}),
     "linux.resources.network.priorities[0].priority"),
    (config(linux={"seccomp": {"architectures": ["SCMP_ARCH_X86"]}}),
     "linux.seccomp.defaultAction"),
    (config(linux={"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}}),
     "linux.seccomp.syscalls[0].names"),
    (config(linux={"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["read"]}]}}),
     "linux.seccomp.syscalls[0].action"),
    *[(config(linux={"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{k: v for k, v in {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}.items()
                   if k != missing}]}]}}),
       f"linux.seccomp.syscalls[0].args[0].{missing}") for missing in ("index", "value", "op")],
])
def test_required_properties(document: dict[str, Any], where: str) -> None:
    err = error_of(document)
    assert (err.where, err.message) == (where, "missing required property")


def test_optional_properties_of_the_schema_are_optional() -> None:
    load_config(config(
        process={"cwd": "/", "user": {}, "capabilities": {}, "execCPUAffinity": {}},
        mounts=[{"destination": "/x"}],
        hooks={},
        linux={"namespaces": [{"type": "pid"}], "netDevices": {"eth0": {}},
               "resources": {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]},
                             "rdma": {"mlx4_0": {}}, "memory": {}, "cpu": {}},
               "timeOffsets": {"monotonic": {}}, "intelRdt": {}, "memoryPolicy": {},
               "personality": {}},
    ))


# --------------------------------------------------------------------------------------------
# Errors: JSON syntax, several problems, origin, paths
# --------------------------------------------------------------------------------------------

def test_invalid_json_names_the_origin_and_position() -> None:
    err = error_of('{\n  "ociVersion": "1.0.0",\n  ]', origin="/b/config.json")
    assert err.where == "/b/config.json"
    assert err.message.startswith("invalid JSON at line 3 column 3: ")
    assert err.errors == [(err.where, err.message)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ['{"ociVersion": NaN}', b'{"ociVersion": "\xff"}'])
def test_json_that_python_would_accept_or_cannot_decode(text: str | bytes) -> None:
    err = error_of(text)
    assert err.where == "config.json" and err.message.startswith("invalid JSON")


def test_top_level_must_be_an_object() -> None:
    err = error_of("[1, 2]")
    assert (err.where, err.message) == ("config.json", "expected an object, got an array")


def test_bytes_and_dicts_are_accepted() -> None:
    assert load_config(json.dumps(MINIMAL).encode()).oci_version == "1.3.0"
    assert load_config(MINIMAL).oci_version == "1.3.0"


def test_several_errors_are_all_reported() -> None:
    err = error_of({"process": {"cwd": 1, "terminal": "yes"},
                    "linux": {"namespaces": [{"type": "foo"}]}})
    found = err.errors  # type: ignore[attr-defined]
    assert [where for where, _ in found] == [
        "ociVersion", "process.terminal", "process.cwd", "linux.namespaces[0].type"]
    assert err.where == "ociVersion"
    assert err.message == "missing required property (and 3 more)"


def test_map_keys_that_are_not_identifiers_are_quoted() -> None:
    err = error_of(config(linux={"sysctl": {"net.ipv4.ip_forward": 1}}))
    assert err.where == 'linux.sysctl["net.ipv4.ip_forward"]'
    assert err.message == "expected a string, got integer 1"
    err = error_of(config(annotations={"com.example/key": ["x"]}))
    assert err.where == 'annotations["com.example/key"]'


def test_long_strings_are_shortened_in_messages() -> None:
    err = error_of(config(process={"cwd": "/", "terminal": "y" * 200}))
    assert len(err.message) < 100 and err.message.endswith('..."')


# --------------------------------------------------------------------------------------------
# Unknown properties
# --------------------------------------------------------------------------------------------

WITH_EXTRAS: dict[str, Any] = {
    "ociVersion": "1.3.0",
    "fooBar": 1,
    "root": {"path": "rootfs"},
    "mounts": [{"destination": "/a"}, {"destination": "/b"},
               {"destination": "/c", "weird": {"nested": True}}],
    "process": {"cwd": "/", "user": {"uid": 0, "gid": 0, "sid": 5},
                "rlimits": [{"type": "RLIMIT_CORE", "hard": 1, "soft": 1, "x": None}]},
    "hooks": {"prestart": [{"path": "/h", "retries": 3}], "onPause": []},
    "annotations": {"not.an.extra": "x"},
    "linux": {
        "fooBar": [1],
        "sysctl": {"net.core.somaxconn": "256"},
        "netDevices": {"eth0": {"name": "c0", "mtu": 9000}, "eth.1": {"vlan": 2}},
        "resources": {"oomScoreAdj": 100, "rdma": {"mlx5_1": {"hcaMem": 1}},
                      "blockIO": {"weightDevice": [{"major": 8, "minor": 0, "io": 1}]}},
        "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "ok"}]},
    },
    "windows": {"anything": {"goes": 1}},
    "solaris": {"milestone": "x"},
}


def test_unknown_fields_lists_every_extra_with_its_path() -> None:
    spec = load_config(copy.deepcopy(WITH_EXTRAS))
    assert sorted(unknown_fields(spec)) == sorted([
        "fooBar",
        "mounts[2].weird",
        "process.user.sid",
        "process.rlimits[0].x",
        "hooks.prestart[0].retries",
        "hooks.onPause",
        "linux.fooBar",
        "linux.netDevices.eth0.mtu",
        'linux.netDevices["eth.1"].vlan',
        "linux.resources.oomScoreAdj",
        "linux.resources.rdma.mlx5_1.hcaMem",
        "linux.resources.blockIO.weightDevice[0].io",
        "linux.seccomp.syscalls[0].comment",
    ])


def test_unknown_fields_are_kept_and_dumped_back() -> None:
    spec = load_config(copy.deepcopy(WITH_EXTRAS))
    assert spec.model_extra == {"fooBar": 1}
    expected = copy.deepcopy(WITH_EXTRAS)
    del expected["process"]["rlimits"][0]["x"]  # None values are not written back
    assert dump(spec) == expected


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, msg: str) -> None:
        self.messages.append(msg)


def test_unknown_fields_are_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(spec_module, "log", recorder)
    load_config(config(linux={"fooBar": 1}, weird=2), origin="/b/config.json")
    assert len(recorder.messages) == 1
    message = recorder.messages[0]
    assert message.startswith("/b/config.json: ignoring unknown properties: ")
    assert "linux.fooBar" in message and "weird" in message


def test_no_unknown_fields_no_log(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(spec_module, "log", recorder)
    spec = load_config(config())
    assert unknown_fields(spec) == [] and recorder.messages == []


def test_python_field_names_in_json_are_unknown_properties() -> None:
    spec = load_config(config(linux={"cgroups_path": "/x"}))
    assert spec.linux is not None and spec.linux.cgroups_path is None
    assert unknown_fields(spec) == ["linux.cgroups_path"]


# --------------------------------------------------------------------------------------------
# Python construction and dumping
# --------------------------------------------------------------------------------------------

def test_models_can_be_built_by_field_name() -> None:
    from limpet.core.spec import IDMapping, Linux, LinuxNamespace, Process, Root

    spec = Spec(
        oci_version="1.3.0",
        root=Root(path="rootfs", readonly=True),
        process=Process(cwd="/", args=["sh"], no_new_privileges=True),
        linux=Linux(cgroups_path="/limpet/c1", namespaces=[LinuxNamespace(type="pid")],
                    uid_mappings=[IDMapping(container_id=0, host_id=1000, size=1)]),
    )
    assert dump(spec) == {
        "ociVersion": "1.3.0",
        "root": {"path": "rootfs", "readonly": True},
        "process": {"cwd": "/", "args": ["sh"], "noNewPrivileges": True},
        "linux": {"cgroupsPath": "/limpet/c1", "namespaces": [{"type": "pid"}],
                  "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
    }


@needs_spec
def test_spec_example_round_trips_through_dump() -> None:
    text = (EXAMPLES / "good" / "spec-example.json").read_text()
    original = json.loads(text)
    spec = load_config(text)
    assert dump(spec) == original
    again = load_config(json.dumps(dump(spec)))
    assert again == spec
    assert dump(again) == original
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.block_io is not None
    assert spec.linux.resources.block_io.throttle_write_iops_device is not None
    assert spec.linux.resources.block_io.throttle_write_iops_device[0].rate == 300
    assert spec.linux.resources.memory is not None
    assert spec.linux.resources.memory.kernel_tcp == -1
    assert spec.linux.resources.network is not None
    assert spec.linux.resources.network.class_id == 1048577
    assert spec.process is not None and spec.process.user is not None
    assert spec.process.user.additional_gids == [5, 6]


def test_dump_leaves_out_unset_and_none_but_keeps_empty_values() -> None:
    spec = load_config(config(mounts=[{"destination": "/dev/fd", "options": []}],
                              process={"cwd": "/", "terminal": False, "env": []}))
    assert dump(spec) == config(mounts=[{"destination": "/dev/fd", "options": []}],
                                process={"cwd": "/", "terminal": False, "env": []})


# --------------------------------------------------------------------------------------------
# State and Features
# --------------------------------------------------------------------------------------------

def _md_json_blocks(name: str) -> list[str]:
    assert SPEC_DIR is not None
    return re.findall(r"```json\n(.*?)```", (SPEC_DIR / name).read_text(), re.S)


@needs_spec
def test_state_example_from_runtime_md() -> None:
    text = next(b for b in _md_json_blocks("runtime.md") if '"status"' in b)
    state = load_state(text)
    assert isinstance(state, State)
    assert (state.id, state.status, state.pid) == ("oci-container1", "running", 4422)
    assert dump(state) == json.loads(text)


@pytest.mark.parametrize(("patch", "where", "message"), [
    ({"status": "paused"}, "status", 'unknown container status "paused"'),
    ({"pid": -1}, "pid", "expected a non-negative integer (at least 0), got -1"),
    ({"bundle": None}, "bundle", "expected a string, got null"),
])
def test_state_is_checked(patch: dict[str, Any], where: str, message: str) -> None:
    document = {"ociVersion": "1.3.0", "id": "c1", "status": "created", "pid": 1,
                "bundle": "/b", **patch}
    with pytest.raises(SpecError) as info:
        load_state(document)
    assert info.value.where == where and info.value.message.startswith(message)


def test_state_requires_its_properties() -> None:
    with pytest.raises(SpecError) as info:
        load_state("{}")
    assert [w for w, _ in info.value.errors] == [  # type: ignore[attr-defined]
        "ociVersion", "id", "status", "bundle"]
    state = load_state({"ociVersion": "1", "id": "c", "status": "creating", "bundle": "/"})
    assert state.pid is None


@needs_spec
def test_features_example_from_features_md() -> None:
    text = max(_md_json_blocks("features.md"), key=len)
    features = load_features(text)
    assert isinstance(features, Features)
    assert unknown_fields(features) == []
    assert dump(features) == json.loads(text)
    assert features.linux is not None and features.linux.intel_rdt is not None
    assert features.linux.intel_rdt.monitoring is True


@pytest.mark.parametrize(("linux", "where"), [
    ({"namespaces": ["pid", "net"]}, "linux.namespaces[1]"),
    ({"capabilities": ["CAP_KILL", "kill"]}, "linux.capabilities[1]"),
    ({"seccomp": {"archs": ["amd64"]}}, "linux.seccomp.archs[0]"),
    ({"cgroup": {"v2": "yes"}}, "linux.cgroup.v2"),
    ({"mountExtensions": {"idmap": {"enabled": 1}}}, "linux.mountExtensions.idmap.enabled"),
])
def test_features_are_checked(linux: dict[str, Any], where: str) -> None:
    with pytest.raises(SpecError) as info:
        load_features({"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": linux})
    assert info.value.where == where


def test_features_can_be_built_and_dumped() -> None:
    from limpet.core.spec import FeaturesLinux, FeaturesSeccomp

    features = Features(oci_version_min="1.0.0", oci_version_max="1.3.0",
                        hooks=["prestart"],
                        linux=FeaturesLinux(namespaces=["pid"], seccomp=FeaturesSeccomp(
                            enabled=True, known_flags=["SECCOMP_FILTER_FLAG_LOG"])))
    assert dump(features) == {
        "ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "hooks": ["prestart"],
        "linux": {"namespaces": ["pid"],
                  "seccomp": {"enabled": True, "knownFlags": ["SECCOMP_FILTER_FLAG_LOG"]}}}


# --------------------------------------------------------------------------------------------
# The models cover the schema: same property names, same required lists
# --------------------------------------------------------------------------------------------

class _Schemas:
    """Resolve ``$ref``s across the spec's schema files and merge ``allOf``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, Any] = {}

    def load(self, name: str) -> Any:
        if name not in self.files:
            self.files[name] = json.loads((self.directory / name).read_text())
        return self.files[name]

    def resolve(self, node: Any, current: str) -> tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:
            target, _, pointer = node["$ref"].partition("#")
            current = target or current
            node = self.load(current)
            for part in pointer.strip("/").split("/"):
                if part:
                    node = node[part]
        if isinstance(node, dict) and "allOf" in node:
            merged: dict[str, Any] = {"properties": {}, "required": []}
            for part in node["allOf"]:
                part, _ = self.resolve(part, current)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return merged, current
        if isinstance(node, dict) and "anyOf" in node and len(node["anyOf"]) == 1:
            return self.resolve(node["anyOf"][0], current)
        return node, current


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model class inside ``X | None``, ``list[X]`` or ``dict[str, X]`` and how it nests."""
    shape = "object"
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is list:
            annotation, shape = typing.get_args(annotation)[0], "array"
        elif origin is dict:
            annotation, shape = typing.get_args(annotation)[1], "map"
        elif origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, shape
    return None, shape


# Properties documented in the markdown but missing from the JSON schema.
TEXT_ONLY = {("Features", "linux", "memoryPolicy"), ("Features", "linux", "intelRdt", "schemata"),
             ("Features", "linux", "intelRdt", "monitoring")}
# Platform sections accepted as plain objects.
NOT_MODELLED = {"solaris", "windows", "vm", "zos"}


def _compare(schemas: _Schemas, node: Any, current: str, model: type[BaseModel],
             path: tuple[str, ...], problems: list[str]) -> None:
    node, current = schemas.resolve(node, current)
    properties = node.get("properties", {})
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for name in sorted(set(properties) - set(fields)):
        problems.append(f"{'.'.join(path)}: {name} not modelled")
    for name in sorted(set(fields) - set(properties)):
        if path + (name,) not in TEXT_ONLY:
            problems.append(f"{'.'.join(path)}: {name} not in the schema")
    required = set(node.get("required", []))
    for name, field in fields.items():
        if field.is_required() != (name in required):
            problems.append(f"{'.'.join(path)}: {name} required={field.is_required()}")
    for name in sorted(set(properties) & set(fields)):
        if name in NOT_MODELLED and len(path) == 1:
            continue
        child, shape = _model_of(fields[name].annotation)
        sub, sub_file = schemas.resolve(properties[name], current)
        if shape == "array":
            sub, sub_file = schemas.resolve(sub["items"], sub_file)
        elif shape == "map":
            sub, sub_file = schemas.resolve(sub.get("additionalProperties", {}), sub_file)
        if child is not None:
            _compare(schemas, sub, sub_file, child, path + (name,), problems)
        elif "properties" in sub:
            problems.append(f"{'.'.join(path + (name,))}: object not modelled")


@needs_spec
@pytest.mark.parametrize(("model", "schema"), [
    (specmodels.Spec, "config-schema.json"), (specmodels.State, "state-schema.json"),
    (specmodels.Features, "features-schema.json"),
])
def test_models_match_the_schema(model: type[BaseModel], schema: str) -> None:
    assert SPEC_DIR is not None
    schemas = _Schemas(SPEC_DIR / "schema")
    problems: list[str] = []
    _compare(schemas, schemas.load(schema), schema, model, (model.__name__,), problems)
    assert problems == []


# --------------------------------------------------------------------------------------------
# The generated tables: current, and the same verdicts as the pydantic reference models
# --------------------------------------------------------------------------------------------

def test_the_generated_table_is_current() -> None:
    committed = Path(spec_module.__file__).with_name("spectable.py").read_text()
    assert committed == specgen.generate(), \
        "run: .venv/bin/python -m limpet.core.specgen core/spectable.py"


def _verdict(module: Any, doc: Any) -> tuple[Any, ...]:
    try:
        loaded = module.load_config(copy.deepcopy(doc))
    except SpecError as exc:
        return ("error", exc.errors)  # type: ignore[attr-defined]
    return ("ok", module.dump(loaded), module.unknown_fields(loaded))


@needs_spec
@pytest.mark.parametrize("name", GOOD + BAD)
def test_the_spec_examples_get_the_reference_verdict(name: str) -> None:
    path = EXAMPLES / ("good" if name in GOOD else "bad") / name
    text = path.read_text()
    assert _verdict(spec_module, text) == _verdict(specmodels, text)


_DAMAGE = ["1", 1, -1, 2**64, 2**31, -(2**63) - 1, True, False, None, 1.5, [], {}, {"x": 1},
           "bogus", [1], ["a"], [{}], [None], "RLIMIT_X", "rlimit_x", "CAP_X", "", "0-3",
           "2MB", "MB:x\n"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


def _damage(doc: Any, rng: Any) -> None:
    """Replace, delete or add a value somewhere in ``doc``."""
    where = rng.choice(_paths(doc)[1:])
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    roll = rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[where[-1]]
    elif roll < 0.25 and isinstance(parent, dict):
        key = rng.choice(["weird", "cgroups_path", "oom_score_adj", "type", "path"])
        parent[key] = copy.deepcopy(rng.choice(_DAMAGE))
    else:
        parent[where[-1]] = copy.deepcopy(rng.choice(_DAMAGE))


@needs_spec
@pytest.mark.parametrize("seed", range(4))
def test_damaged_configs_get_the_reference_errors(seed: int) -> None:
    import random

    from limpet.core.default_spec import default_spec

    rng = random.Random(seed)
    bases = [json.loads((EXAMPLES / "good" / "spec-example.json").read_text()),
             default_spec(rootless=False, seccomp=True)]
    differ, errors = [], 0
    for _ in range(500):
        doc = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.choice([1, 1, 2, 3])):
            _damage(doc, rng)
        mine, reference = _verdict(spec_module, doc), _verdict(specmodels, doc)
        errors += mine[0] == "error"
        if mine != reference:
            differ.append((json.dumps(doc)[:200], mine, reference))
    assert errors > 300   # the damage mostly breaks something
    assert differ == []


def test_building_by_field_name_is_validated() -> None:
    from limpet.core.spec import LinuxNamespace, Root

    with pytest.raises(SpecError) as info:
        LinuxNamespace(type="bogus")
    assert info.value.where == "type"
    assert "unknown namespace type" in info.value.message
    with pytest.raises(SpecError) as info:
        Root(readonly=True)
    assert (info.value.where, info.value.message) == ("path", "missing required property")
    with pytest.raises(TypeError):
        Root(path="rootfs", cgroupsPath="/x")


def test_pattern_runs_match_as_the_regex_does() -> None:
    import random

    from limpet.core import spectable
    from limpet.core.specbase import matches

    checks = {v for v in vars(spectable).values()
              if isinstance(v, tuple) and v and v[0] == "pattern"}
    assert len(checks) == 6
    rng = random.Random(7)
    for _, noun, regex, _, runs in checks:
        compiled = re.compile(regex.removesuffix("$") + r"\Z")
        alphabet = sorted({c for chars, _, _, _ in runs for c in chars[:12]} | set("aZ0_-\n: "))
        samples = ["", regex.strip("^$")] + ["".join(rng.choice(alphabet) for _ in
                                                     range(rng.randint(0, 12)))
                                             for _ in range(4000)]
        prefix = "".join(chars for chars, _, least, most in runs if least == most == 1
                         and len(chars) == 1)
        samples += [prefix + s for s in samples[:2000]]
        for sample in samples:
            assert matches(runs, sample) == bool(compiled.search(sample)), (noun, sample)
