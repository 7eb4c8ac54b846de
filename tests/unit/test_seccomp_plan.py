"""The seccomp plugin's validation and plan, through compile_bundle (no root)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import SpecError
from limpet.plugins.seccomp import libseccomp, ops, plugin
from limpet.plugins.seccomp.compiler import KNOWN_FLAGS, compile_profile


def seccomp(unit_bundle: Any, **fields: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", **fields}
    unit_bundle.config["linux"]["seccomp"] = profile
    return profile


def load_op(unit_bundle: Any) -> Any:
    plan = unit_bundle.plan()
    ops = [op for phase in ("seccomp", "seccomp-privileged") for op in plan.ops(phase)]
    assert len(ops) == 1
    return ops[0]


def spec_error(unit_bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        unit_bundle.compile()
    return info.value


def test_declares_linux_seccomp_and_its_features() -> None:
    info = plugin.limpet_declare()
    assert info.claims == ("linux.seccomp",)
    assert info.features == "limpet.plugins.seccomp.features:fragment"   # probed lazily
    features = info.features_fragment()["linux"]["seccomp"]
    assert features["enabled"] is True
    assert set(features["actions"]) == set(libseccomp.ACTIONS)
    assert "SCMP_CMP_MASKED_EQ" in features["operators"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"} <= set(features["archs"])
    assert features["knownFlags"] == list(KNOWN_FLAGS)
    assert set(features["supportedFlags"]) <= set(KNOWN_FLAGS)


def test_no_seccomp_section_plans_nothing(unit_bundle: Any) -> None:
    unit_bundle.config["linux"].pop("seccomp", None)
    plan = unit_bundle.plan()
    assert plan.ops("seccomp") == [] and plan.ops("seccomp-privileged") == []


def test_with_no_new_privileges_the_filter_loads_after_the_credentials(unit_bundle: Any
                                                                       ) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    unit_bundle.config["process"]["noNewPrivileges"] = True
    plan = unit_bundle.plan()
    assert [op.kind for op in plan.ops("seccomp")] == ["seccomp-load"]
    assert plan.ops("seccomp-privileged") == []


def test_without_no_new_privileges_the_filter_loads_before_the_credentials(
        unit_bundle: Any) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    unit_bundle.config["process"]["noNewPrivileges"] = False
    plan = unit_bundle.plan()
    assert [op.kind for op in plan.ops("seccomp-privileged")] == ["seccomp-load"]
    assert plan.ops("seccomp") == []


def test_plan_carries_the_bpf_program_and_a_summary(unit_bundle: Any) -> None:
    names = ["mkdir", "rmdir", "unlink", "unlinkat", "rename", "renameat", "link", "symlink"]
    seccomp(unit_bundle, flags=["SECCOMP_FILTER_FLAG_LOG"],
            syscalls=[{"names": names, "action": "SCMP_ACT_ERRNO"}])
    op = load_op(unit_bundle)
    bpf = base64.b64decode(op.args["bpf"])
    assert len(bpf) % 8 == 0 and op.args["instructions"] == len(bpf) // 8
    assert op.args["rules"] == len(names)
    assert op.args["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert op.args["listener"] is None
    assert "bpf=<" in op.describe()     # `limpet plan` shows the size, not the program


def test_unknown_syscall_names_are_skipped(unit_bundle: Any) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir", "no_such_call"],
                                    "action": "SCMP_ACT_ERRNO"}])
    assert load_op(unit_bundle).args["rules"] == 1


def test_rules_with_the_default_action_are_skipped(unit_bundle: Any) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
                                   {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}])
    assert load_op(unit_bundle).args["rules"] == 1


def test_notify_rules_plan_a_listener(unit_bundle: Any) -> None:
    seccomp(unit_bundle, listenerPath="/run/agent.sock", listenerMetadata="meta",
            flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])
    op = load_op(unit_bundle)
    assert op.args["listener"] == {"path": "/run/agent.sock", "metadata": "meta",
                                   "ociVersion": "1.3.0"}
    assert op.args["flags"] == ["SECCOMP_FILTER_FLAG_TSYNC",
                                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                                "SECCOMP_FILTER_FLAG_NEW_LISTENER",
                                "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"]


def test_listener_path_without_notify_rules_is_ignored(unit_bundle: Any) -> None:
    seccomp(unit_bundle, listenerPath="/run/agent.sock",
            flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    op = load_op(unit_bundle)
    assert op.args["listener"] is None and op.args["flags"] == []


@pytest.mark.parametrize(("profile", "where", "words"), [
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1},
     "linux.seccomp.defaultErrnoRet", "SCMP_ACT_ALLOW takes no errno"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/a.sock"},
     "linux.seccomp.defaultAction", "cannot be the default action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000},
     "linux.seccomp.defaultErrnoRet", "5000 is not an errno"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]},
     "linux.seccomp.syscalls[0].errnoRet", "SCMP_ACT_KILL takes no errno"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index", "at most 6 arguments"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath", "need a listener"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "agent.sock",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath", "must be an absolute path"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"},
     "linux.seccomp.listenerMetadata", "without listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
      "syscalls": [{"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.syscalls[0].names[1]", "cannot be used for sendmsg"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""],
                                                       "action": "SCMP_ACT_ERRNO"}]},
     "linux.seccomp.syscalls[0].names[0]", "empty syscall name"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_SH"]},
     "linux.seccomp.architectures[1]", "SCMP_ARCH_SH is not known to libseccomp"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction",
     'unknown seccomp action "SCMP_ACT_NOPE"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_IS"}]}]},
     "linux.seccomp.syscalls[0].args[0].op", 'unknown seccomp operator "SCMP_CMP_IS"'),
])
def test_bad_profiles_are_errors_naming_the_path(unit_bundle: Any, profile: dict[str, Any],
                                                 where: str, words: str) -> None:
    unit_bundle.config["linux"]["seccomp"] = profile
    error = spec_error(unit_bundle)
    assert error.where == where
    assert words in error.message


def test_a_missing_libseccomp_is_an_error_naming_the_field(
        unit_bundle: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise libseccomp.LibseccompError(0, "libseccomp.so.2 cannot be loaded; install "
                                            "libseccomp2")

    monkeypatch.setattr(libseccomp, "binding", missing)
    seccomp(unit_bundle)
    error = spec_error(unit_bundle)
    assert error.where == "linux.seccomp" and "install libseccomp2" in error.message


def test_a_blocked_plugin_leaves_linux_seccomp_unclaimed(unit_bundle: Any) -> None:
    unit_bundle.config_file.write_text("plugins: {block: [seccomp]}\n")
    seccomp(unit_bundle)
    error = spec_error(unit_bundle)
    assert error.where == "linux.seccomp" and "no enabled plugin handles this" in error.message


def test_compiling_is_deterministic() -> None:
    from limpet.core.spec import Seccomp

    profile = Seccomp.model_validate({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]})
    first, second = compile_profile(profile), compile_profile(profile)
    assert first.bpf == second.bpf and first.rules == 3


# --- the cache of compiled programs ---------------------------------------------------------

def cache_ops(plan: Any) -> list[Any]:
    return [op for op in plan.ops("prepare") if op.kind == "seccomp-cache"]


def store(args: dict[str, Any]) -> None:
    """Run the cache op as create would: the state root exists by then."""
    Path(args["path"]).parent.mkdir(parents=True, exist_ok=True)
    ops.store_cache(None, args)


def test_a_cache_miss_plans_storing_the_program_and_the_next_plan_reads_it(
        unit_bundle: Any) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    first = unit_bundle.plan()
    [store_op] = cache_ops(first)
    path = Path(store_op.args["path"])
    assert path.name.startswith("@seccomp-") and path.suffix == ".json"
    assert path.parent == unit_bundle.path / "state"   # a file in the state root (--root)
    store(store_op.args)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cache_ops(unit_bundle.plan()) == []
    assert load_op(unit_bundle).args["bpf"] == first.ops("seccomp")[0].args["bpf"]


def test_a_changed_profile_misses_the_cache(unit_bundle: Any) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    store(cache_ops(unit_bundle.plan())[0].args)
    seccomp(unit_bundle, syscalls=[{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}])
    assert len(cache_ops(unit_bundle.plan())) == 1


@pytest.mark.parametrize("spoil", ["mode", "content"])
def test_an_untrusted_or_broken_cache_entry_is_ignored(unit_bundle: Any, spoil: str) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    args = cache_ops(unit_bundle.plan())[0].args
    store(args)
    path = Path(args["path"])
    if spoil == "mode":
        path.chmod(0o666)
    else:
        path.write_text('{"bpf": "AAAA", "rules": 1, "skipped": []}')
    assert len(cache_ops(unit_bundle.plan())) == 1


def test_a_cache_hit_needs_no_libseccomp(unit_bundle: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    store(cache_ops(unit_bundle.plan())[0].args)

    def missing() -> Any:
        raise AssertionError("libseccomp loaded on a cache hit")

    monkeypatch.setattr(libseccomp, "binding", missing)
    assert cache_ops(unit_bundle.plan()) == []
    assert load_op(unit_bundle).args["bpf"]


def test_an_entry_of_another_libseccomp_file_is_a_miss(unit_bundle: Any) -> None:
    """An upgrade replaces the library file: the entry records which one compiled it."""
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    args = cache_ops(unit_bundle.plan())[0].args
    library = args["library"]
    assert os.path.basename(library[0]).startswith("libseccomp.so")
    assert library[1:] == libseccomp.file_identity(library[0])
    store({**args, "library": [library[0], *library[1:4], library[4] + 1]})   # other mtime
    assert len(cache_ops(unit_bundle.plan())) == 1


def test_writing_the_cache_removes_the_old_cache_directory(unit_bundle: Any) -> None:
    """Before 1e37783 the cache was a directory in the state root, which looked like a
    container to anything counting the root's directories."""
    seccomp(unit_bundle, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    args = cache_ops(unit_bundle.plan())[0].args
    legacy = Path(args["path"]).parent / ops.LEGACY_CACHE_DIR
    legacy.mkdir(parents=True)
    (legacy / "0123.json").write_text("{}")
    store(args)
    assert not legacy.exists()
    assert Path(args["path"]).exists()
