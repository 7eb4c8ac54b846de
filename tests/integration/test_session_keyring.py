"""The container's own session keyring (runc's default; ``create --no-new-keyring`` keeps the
caller's): seen in /proc/keys inside, with the permissions runc gives it. runc runs the
same bundle as the reference."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import Bundle, Runtime

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")]

SCRIPT = "grep ' keyring ' /proc/keys; true"


def session_keyring(output: str, container_id: str) -> str | None:
    """The permission mask of ``_ses.ID`` in /proc/keys output, or None."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 8 and fields[8] == f"_ses.{container_id}:":
            return fields[4]
    return None


def keys_bundle(bundle: Bundle) -> Bundle:
    bundle.config["linux"]["maskedPaths"] = [p for p in bundle.config["linux"]["maskedPaths"]
                                             if p != "/proc/keys"]
    bundle.set_args("/bin/sh", "-c", SCRIPT).write()
    return bundle


def runc_run(bundle: Path, container_id: str) -> str:
    root = f"/run/limpet-test-runc-{uuid.uuid4().hex[:6]}"
    try:
        result = subprocess.run(["runc", "--root", root, "run", "--bundle", str(bundle),
                                 container_id], capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_container_gets_its_own_session_keyring_like_runc(limpet: Runtime,
                                                          bundle: Bundle) -> None:
    keys_bundle(bundle)
    ours = limpet("run", "--bundle", str(bundle.path), "kr-limpet")
    assert ours.returncode == 0, ours.stderr
    perm = session_keyring(ours.stdout, "kr-limpet")
    assert perm is not None, ours.stdout
    assert int(perm, 16) & 0x00080000        # searchable by its owner (KEY_USR_SEARCH)
    assert perm == session_keyring(runc_run(bundle.path, "kr-runc"), "kr-runc")


def test_in_a_user_namespace_others_may_search_it_like_runc(
        limpet: Runtime, bundle: Bundle, world_readable_rootfs: str) -> None:
    bundle.config["root"]["path"] = world_readable_rootfs
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    keys_bundle(bundle)
    ours = limpet("run", "--bundle", str(bundle.path), "kr-userns")
    assert ours.returncode == 0, ours.stderr
    perm = session_keyring(ours.stdout, "kr-userns")
    assert perm is not None and int(perm, 16) & 0x00000008   # KEY_OTH_SEARCH
    assert perm == session_keyring(runc_run(bundle.path, "kr-userns-runc"),
                                   "kr-userns-runc")


def test_no_new_keyring_keeps_the_callers(limpet: Runtime, bundle: Bundle) -> None:
    keys_bundle(bundle)
    ours = limpet("run", "--no-new-keyring", "--bundle", str(bundle.path), "kr-none")
    assert ours.returncode == 0, ours.stderr
    assert session_keyring(ours.stdout, "kr-none") is None
    assert " keyring " in ours.stdout            # the keyrings it can see are the caller's


def test_exec_after_create_records_the_keyring(limpet: Runtime, bundle: Bundle) -> None:
    """exec joins the keyring that create recorded (its plan says so), and works."""
    bundle.set_args("/bin/sleep", "300").write()
    assert limpet("create", "--bundle", str(bundle.path), "kr-exec").returncode == 0
    try:
        assert limpet.state("kr-exec")["status"] == "created"
        saved = Path(limpet.root, "kr-exec", "state.json").read_text()   # limpet's own facts
        assert '"sessionKeyring"' in saved and '"_ses.kr-exec"' in saved
        assert limpet("start", "kr-exec").returncode == 0
        result = limpet("exec", "kr-exec", "/bin/true")
        assert result.returncode == 0, result.stderr
    finally:
        limpet("delete", "--force", "kr-exec")
