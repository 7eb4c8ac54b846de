"""Rootless mode (runc's ``--rootless``): limpet run by an unprivileged user (``nobody``,
through setpriv) on a ``spec --rootless`` bundle, and the flag itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LIMPET, Bundle, Result, Runtime, build_rootfs, run_in, run_to_files

pytestmark = pytest.mark.root

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@dataclass
class UserSide:
    """A bundle and a state root that belong to ``nobody``."""

    top: Path

    @property
    def bundle(self) -> Path:
        return self.top / "bundle"

    @property
    def root(self) -> Path:
        return self.top / "state"

    def limpet(self, *args: str, env: dict[str, str] | None = None, root: bool = True,
               wrapper: tuple[str, ...] = ()) -> Result:
        """limpet as nobody, in the bundle."""
        flags = ["--root", str(self.root)] if root else []
        environment = {"PATH": os.environ["PATH"],
                       "LIMPET_CONFIG": "/nonexistent/limpet-test-config.yaml", **(env or {})}
        return run_to_files([*AS_NOBODY, *wrapper, LIMPET, *flags, *args], env=environment,
                            cwd=self.bundle)

    def limpet_in_user_namespace(self, *args: str) -> Result:
        """limpet as root of a user namespace that maps only nobody (``unshare -r``), as a
        rootless engine runs it: uid 0, yet rootless."""
        return self.limpet(*args, wrapper=("unshare", "--user", "--map-root-user", "--mount"))

    def configure(self, script: str) -> None:
        path = self.bundle / "config.json"
        config = json.loads(path.read_text())
        config["process"]["args"] = ["/bin/sh", "-c", script]
        config["process"]["terminal"] = False
        # runc's rootless spec binds the host's /dev/mqueue, which this host may not mount
        config["mounts"] = [m for m in config["mounts"]
                            if m["destination"] != "/dev/mqueue" or os.path.ismount(m["source"])]
        path.write_text(json.dumps(config))


@pytest.fixture
def user_side() -> Iterator[UserSide]:
    if subprocess.run([*AS_NOBODY, LIMPET, "--version"], capture_output=True).returncode:
        pytest.skip(f"{LIMPET} cannot be run by nobody (a parent directory is not "
                    "world-searchable)")
    top = Path(tempfile.mkdtemp(prefix="limpet-rootless-"))
    os.chmod(top, 0o755)
    side = UserSide(top)
    build_rootfs(side.bundle / "rootfs")
    for path in (top, *top.rglob("*")):
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    result = side.limpet("spec", "--rootless", root=False)
    assert result.returncode == 0, result.stderr
    try:
        yield side
    finally:
        for container in side.limpet("list", "-q").stdout.split():
            side.limpet("delete", "--force", container)
        shutil.rmtree(top, ignore_errors=True)


def test_unprivileged_user_runs_a_container(user_side: UserSide) -> None:
    """Root in the container is nobody on the host; setgroups is denied (an unprivileged
    gid_map needs it); no cgroup is made (no limits asked)."""
    user_side.configure("id -u; cat /proc/self/uid_map /proc/self/setgroups; "
                        "cat /proc/self/cgroup | grep -c limpet-; true")
    result = user_side.limpet("run", "rl1")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", str(NOBODY), "1"]
    assert lines[2] == ["deny"]
    assert lines[3] == ["0"]        # the container shares the runtime's cgroups
    assert user_side.limpet("list", "-q").stdout.split() == []


def test_root_of_an_engine_user_namespace_is_rootless(user_side: UserSide) -> None:
    """uid 0 in a user namespace that is not the host's: auto detects rootless (no cgroup),
    and the container's own user namespace maps that root."""
    path = user_side.bundle / "config.json"
    config = json.loads(path.read_text())
    for key in ("uidMappings", "gidMappings"):   # ids as the engine's namespace sees them
        config["linux"][key] = [{"containerID": 0, "hostID": 0, "size": 1}]
    path.write_text(json.dumps(config))
    user_side.configure("id -u; cat /proc/self/uid_map; grep -c limpet- /proc/self/cgroup; true")
    result = user_side.limpet_in_user_namespace("run", "rl6")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", "0", "1"]     # as the engine's namespace sees it (nobody outside)
    assert lines[2] == ["0"]


def test_unprivileged_limits_without_a_writable_cgroup_fail_with_a_hint(
        user_side: UserSide) -> None:
    """Limits need a cgroup the user may write; this host delegates none."""
    user_side.configure("true")
    path = user_side.bundle / "config.json"
    config = json.loads(path.read_text())
    config["linux"]["resources"] = {"pids": {"limit": 50}}
    path.write_text(json.dumps(config))
    result = user_side.limpet("run", "rl5")
    assert result.returncode == 1
    assert "linux.cgroupsPath: creating cgroup" in result.stderr
    assert "Permission denied" in result.stderr
    assert "a rootless container gets a cgroup only when it sets linux.resources" \
        in result.stderr
    assert user_side.limpet("list", "-q").stdout.split() == []


@pytest.mark.parametrize(("field", "value", "where", "says"), [
    ("mounts", {"destination": "/m", "type": "bind", "source": "/tmp",
                "options": ["rbind", "idmap"],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
     "options[1]", "id-mapped mounts are not supported for rootless containers"),
    ("netDevices", {"lo": {"name": "x"}}, "linux.netDevices",
     "moving network devices is not supported for rootless containers")])
def test_what_needs_the_host_root_is_refused_up_front(user_side: UserSide, field: str,
                                                      value: Any, where: str,
                                                      says: str) -> None:
    """Id-mapped mounts and netDevices need the host's root: refused at validation, naming
    the field, rather than by the kernel halfway through create."""
    user_side.configure("true")
    path = user_side.bundle / "config.json"
    config = json.loads(path.read_text())
    if field == "mounts":
        config["mounts"].append(value)
    else:
        config["linux"]["netDevices"] = value
    path.write_text(json.dumps(config))
    result = user_side.limpet("run", "rl7")
    assert result.returncode == 1
    assert where in result.stderr and says in result.stderr, result.stderr
    assert user_side.limpet("list", "-q").stdout.split() == []


def test_unprivileged_lifecycle_and_its_state_root(user_side: UserSide) -> None:
    """create, state, kill, delete by the user; without --root the state lives in
    $XDG_RUNTIME_DIR/limpet (runc's rule), owned by the user."""
    runtime_dir = user_side.top / "xdg"
    runtime_dir.mkdir(mode=0o700)
    os.chown(runtime_dir, NOBODY, NOBODY)
    env = {"XDG_RUNTIME_DIR": str(runtime_dir)}
    user_side.configure("sleep 300")
    created = user_side.limpet("create", "rl2", env=env, root=False)
    assert created.returncode == 0, created.stderr
    try:
        assert (runtime_dir / "limpet" / "rl2").stat().st_uid == NOBODY
        state = json.loads(user_side.limpet("state", "rl2", env=env, root=False).stdout)
        assert state["status"] == "created"
        assert user_side.limpet("start", "rl2", env=env, root=False).returncode == 0
        pid = json.loads(user_side.limpet("state", "rl2", env=env, root=False).stdout)["pid"]
        assert Path(f"/proc/{pid}/status").read_text().count(f"\t{NOBODY}\t") >= 1
        assert user_side.limpet("kill", "rl2", "KILL", env=env, root=False).returncode == 0
    finally:
        deleted = user_side.limpet("delete", "--force", "rl2", env=env, root=False)
    assert deleted.returncode == 0, deleted.stderr
    assert not (runtime_dir / "limpet" / "rl2").exists()


def test_rootless_true_skips_the_cgroup_when_no_limits_are_set(
        limpet: Runtime, bundle: Bundle) -> None:
    """The flag as root: with --rootless true a container that asks for no limits gets
    no cgroup of its own (runc's rootless rule); by default it gets /limpet-ID."""
    script = "grep -c limpet- /proc/self/cgroup; true"
    default = run_in(limpet, bundle, script)
    assert default.returncode == 0, default.stderr
    assert int(default.stdout) > 0
    bundle.set_args("/bin/sh", "-c", script).write()
    rootless = limpet("--rootless", "true", "run", "--bundle", str(bundle.path), "rl3")
    assert rootless.returncode == 0, rootless.stderr
    assert rootless.stdout.strip() == "0"


def test_rootless_flag_takes_true_false_or_auto(limpet: Runtime, bundle: Bundle) -> None:
    bundle.write()
    result = limpet("--rootless", "maybe", "create", "--bundle", str(bundle.path), "rl4")
    assert result.returncode == 2
    assert "--rootless: 'maybe': expected true, false or auto" in result.stderr
    assert limpet.containers() == []
