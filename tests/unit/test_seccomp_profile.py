"""Engine templates resolved into linux.seccomp, and the default profile of `limpet spec`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from limpet.core import cli
from limpet.core.default_spec import default_spec
from limpet.core.spec import Seccomp
from limpet.plugins.seccomp import profile
from limpet.plugins.seccomp.compiler import compile_profile

PODMAN = Path("/usr/share/containers/seccomp.json")
CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

TEMPLATE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}},
        {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.0"}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
    ],
}


def names(resolved: dict[str, Any]) -> list[str]:
    return [n for rule in resolved["syscalls"] for n in rule["names"]]


def test_rules_follow_the_capabilities() -> None:
    plain = profile.resolve(TEMPLATE, CAPS, machine="x86_64", kernel=(6, 1))
    admin = profile.resolve(TEMPLATE, [*CAPS, "CAP_SYS_ADMIN"], machine="x86_64",
                            kernel=(6, 1))
    assert names(plain) == ["read", "bpf", "arch_prctl", "clone3", "clone"]
    assert names(admin) == ["read", "mount", "arch_prctl", "clone3"]


def test_rules_and_architectures_follow_the_machine() -> None:
    amd64 = profile.resolve(TEMPLATE, CAPS, machine="x86_64", kernel=(6, 1))
    arm64 = profile.resolve(TEMPLATE, CAPS, machine="aarch64", kernel=(6, 1))
    assert amd64["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert arm64["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "set_tls" in names(arm64) and "arch_prctl" not in names(arm64)
    s390 = profile.resolve(TEMPLATE, CAPS, machine="s390x", kernel=(6, 1))
    assert "architectures" not in s390 and "clone" not in names(s390)


def test_rules_follow_the_kernel_version() -> None:
    old = profile.resolve(TEMPLATE, CAPS, machine="x86_64", kernel=(3, 10))
    assert "clone3" not in names(old) and "old" in names(old)


def test_resolved_rules_keep_only_spec_fields() -> None:
    resolved = profile.resolve(TEMPLATE, CAPS, machine="x86_64", kernel=(6, 1))
    assert resolved["defaultAction"] == "SCMP_ACT_ERRNO" and resolved["defaultErrnoRet"] == 1
    assert resolved["syscalls"][0] == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    assert resolved["syscalls"][-1]["args"] == [
        {"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    Seccomp.model_validate(resolved)


def test_the_default_profile_is_podmans_and_compiles() -> None:
    resolved = profile.default_profile(CAPS, machine="x86_64")
    assert resolved["defaultAction"] == "SCMP_ACT_ERRNO"
    assert resolved["defaultErrnoRet"] == 38
    assert len(names(resolved)) > 400
    compiled = compile_profile(Seccomp.model_validate(resolved))
    assert compiled.rules > 400 and not compiled.skipped


@pytest.mark.skipif(not PODMAN.exists(), reason="containers-common is not installed")
def test_the_shipped_template_resolves_like_the_installed_podman_one() -> None:
    mine = profile.default_profile(CAPS)
    podman = profile.resolve(profile.load_template(str(PODMAN)), CAPS)
    assert names(mine) == names(podman)
    assert compile_profile(Seccomp.model_validate(mine)).bpf == \
        compile_profile(Seccomp.model_validate(podman)).bpf


def test_default_spec_carries_the_default_profile_unless_asked_not_to() -> None:
    spec = default_spec()
    assert spec["linux"]["seccomp"] == profile.default_profile(
        spec["process"]["capabilities"]["bounding"])
    assert "seccomp" not in default_spec(seccomp=False)["linux"]
    assert "seccomp" in default_spec(rootless=True)["linux"]


def test_limpet_spec_leaves_seccomp_out_when_the_plugin_is_blocked(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("plugins: {block: [seccomp]}\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert cli.main(["--config", str(tmp_path / "none.yaml"), "spec", "--bundle",
                     str(tmp_path / "a")]) == 0
    assert cli.main(["--config", str(config), "spec", "--bundle", str(tmp_path / "b")]) == 0
    with_plugin = json.loads((tmp_path / "a" / "config.json").read_text())
    blocked = json.loads((tmp_path / "b" / "config.json").read_text())
    assert with_plugin["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "seccomp" not in blocked["linux"]
