"""apparmorProfile, selinuxLabel and mountLabel without root: refused when the host lacks
the LSM (this project's hosts have neither), and the present-host code path against a fake
/sys and /proc under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from limpet.core.errors import ExecutionError, SpecError
from limpet.plugins.process import lsm


def fake_host(root: Path, apparmor: bool = False, selinux: bool = False) -> Path:
    if apparmor:
        (root / "sys/kernel/security/apparmor").mkdir(parents=True)
        (root / "sys/module/apparmor/parameters").mkdir(parents=True)
        (root / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    if selinux:
        (root / "sys/fs/selinux").mkdir(parents=True)
        (root / "sys/fs/selinux/enforce").write_text("1")
    return root


class Spec:
    """The parts of a Spec that lsm.validate reads."""

    def __init__(self, apparmor: str | None = None, selinux: str | None = None,
                 mount_label: str | None = None) -> None:
        self.process = type("P", (), {"apparmor_profile": apparmor,
                                      "selinux_label": selinux})()
        self.linux = type("L", (), {"mount_label": mount_label})()


class FakeCtx:
    def __init__(self, rootfs: Path) -> None:
        self.rootfs = str(rootfs)

    def root_path(self, path: str) -> str:
        return os.path.join(self.rootfs, path.lstrip("/"))


def test_apparmor_profile_on_a_host_without_apparmor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        lsm.validate(Spec(apparmor="acme"), str(fake_host(tmp_path)))
    assert str(info.value) == ("process.apparmorProfile: profile 'acme' asked, but AppArmor "
                               "is not enabled on this host")


def test_apparmor_module_loaded_but_disabled_counts_as_absent(tmp_path: Path) -> None:
    fake_host(tmp_path, apparmor=True)
    (tmp_path / "sys/module/apparmor/parameters/enabled").write_text("N\n")
    assert not lsm.apparmor_enabled(str(tmp_path))


def test_selinux_label_and_mount_label_on_a_host_without_selinux_are_refused(
        tmp_path: Path) -> None:
    root = str(fake_host(tmp_path, apparmor=True))
    with pytest.raises(SpecError) as info:
        lsm.validate(Spec(selinux="system_u:system_r:container_t:s0"), root)
    assert info.value.where == "process.selinuxLabel"
    assert "SELinux is not enabled on this host" in info.value.message
    with pytest.raises(SpecError) as info:
        lsm.validate(Spec(mount_label="system_u:object_r:container_file_t:s0"), root)
    assert info.value.where == "linux.mountLabel"
    assert "SELinux is not enabled on this host" in info.value.message


def test_present_lsms_accept_profile_and_label(tmp_path: Path) -> None:
    root = str(fake_host(tmp_path, apparmor=True, selinux=True))
    assert lsm.apparmor_enabled(root) and lsm.selinux_enabled(root)
    lsm.validate(Spec(apparmor="acme", selinux="system_u:system_r:container_t:s0"), root)


def test_mount_label_on_an_selinux_host_fails_closed_until_mounts_apply_it(
        tmp_path: Path) -> None:
    root = str(fake_host(tmp_path, selinux=True))
    with pytest.raises(SpecError) as info:
        lsm.validate(Spec(mount_label="system_u:object_r:container_file_t:s0"), root)
    assert info.value.where == "linux.mountLabel"
    assert "not applied yet" in info.value.message


def test_this_hosts_answer_matches_its_sysfs() -> None:
    assert lsm.apparmor_enabled() == (
        os.path.isdir("/sys/kernel/security/apparmor")
        and Path("/sys/module/apparmor/parameters/enabled").exists()
        and Path("/sys/module/apparmor/parameters/enabled").read_text().startswith("Y"))
    assert lsm.selinux_enabled() == os.path.exists("/sys/fs/selinux/enforce")


def test_profile_and_label_ops_come_before_credentials(unit_bundle: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda root="/": True)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda root="/": True)
    unit_bundle.config["process"]["apparmorProfile"] = "acme"
    unit_bundle.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    plan = unit_bundle.plan()
    assert [op.kind for op in plan.ops("credentials")][:3] == [
        "apparmor-exec-profile", "selinux-exec-label", "set-credentials"]
    ops = {op.kind: op for op in plan.ops("credentials")}
    assert ops["apparmor-exec-profile"].args == {"profile": "acme"}
    assert ops["apparmor-exec-profile"].where == "process.apparmorProfile"
    assert ops["selinux-exec-label"].args == {"label": "system_u:system_r:container_t:s0"}


def test_apparmor_profile_is_refused_by_compile_on_this_host(unit_bundle: Any) -> None:
    if lsm.apparmor_enabled():
        pytest.skip("this host runs AppArmor")
    unit_bundle.config["process"]["apparmorProfile"] = "acme"
    with pytest.raises(SpecError) as info:
        unit_bundle.compile()
    assert info.value.where == "process.apparmorProfile"


# --- handlers against a fake /proc/self/attr ------------------------------------------------

def _attr(root: Path, *names: str) -> Path:
    attr = root / "proc/self/attr"
    attr.mkdir(parents=True, exist_ok=True)
    for name in names:
        (attr / name).parent.mkdir(parents=True, exist_ok=True)
        (attr / name).write_text("")
    return attr


def test_apparmor_profile_goes_to_the_per_lsm_exec_file(tmp_path: Path) -> None:
    attr = _attr(tmp_path, "exec", "apparmor/exec")
    lsm.apparmor_exec_profile(FakeCtx(tmp_path), {"profile": "acme"})
    assert (attr / "apparmor/exec").read_text() == "exec acme"
    assert (attr / "exec").read_text() == ""


def test_apparmor_profile_falls_back_to_attr_exec(tmp_path: Path) -> None:
    attr = _attr(tmp_path, "exec")
    lsm.apparmor_exec_profile(FakeCtx(tmp_path), {"profile": "acme"})
    assert (attr / "exec").read_text() == "exec acme"


def test_selinux_label_goes_to_attr_exec(tmp_path: Path) -> None:
    attr = _attr(tmp_path, "exec")
    lsm.selinux_exec_label(FakeCtx(tmp_path), {"label": "system_u:system_r:container_t:s0"})
    assert (attr / "exec").read_text() == "system_u:system_r:container_t:s0"


def test_missing_proc_attr_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError) as info:
        lsm.selinux_exec_label(FakeCtx(tmp_path), {"label": "x"})
    assert info.value.where == "process.selinuxLabel"
    assert "mount proc on /proc" in info.value.message
