"""OCI hooks in real containers (config.md#posix-platform-hooks, runtime.md#lifecycle).

The hooks are small shell scripts that append, per call, their kind, their own namespaces,
the state they read on stdin and what they see of the runtime's environment to a record
file; the container's bind-mounts that directory at /tmp, so that startContainer (whose path
resolves in the container) finds its script and record file there.
"""

from __future__ import annotations

import glob
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from limpet.core.state import proc_start_time

from tests.conftest import Bundle, Runtime

pytestmark = pytest.mark.root

NAMESPACES = ("mnt", "pid", "net", "uts")
PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

RECORD = r"""#!/bin/sh
# $1: the hook kind. One tab-separated line per call.
state=$(cat)
pid=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
target=-
if [ -n "$pid" ] && [ "$pid" != 1 ] && [ -e "/proc/$pid/ns/mnt" ]; then
  target=$(readlink "/proc/$pid/ns/mnt")
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$*" \
  "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/self/ns/pid)" \
  "$(readlink /proc/self/ns/net)" "$(readlink /proc/self/ns/uts)" \
  "${LEAK-unset}" "$target" "$state" >> "$REC"
"""


class Hooks:
    """A host directory with the hook scripts and the record file, seen as /tmp inside."""

    def __init__(self, path: Path) -> None:
        self.dir = path
        path.mkdir()
        self.record = path / "record"
        self.script("record.sh", RECORD)

    def script(self, name: str, text: str) -> Path:
        script = self.dir / name
        script.write_text(text)
        script.chmod(0o755)
        return script

    def hook(self, kind: str, script: str = "record.sh", inside: bool = False,
             **extra: Any) -> dict[str, Any]:
        """A hook entry; ``inside``: its path and record file as the container sees them."""
        base = Path("/tmp") if inside else self.dir
        return {"path": str(base / script), "args": [script, kind, "extra-arg"],
                "env": [f"REC={base / 'record'}", PATH], **extra}

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        out = []
        for line in self.record.read_text().splitlines():
            kind, argv, mnt, pid, net, uts, leak, target, state = line.split("\t", 8)
            out.append({"kind": kind, "argv": argv, "leak": leak, "target": target,
                        "ns": {"mnt": mnt, "pid": pid, "net": net, "uts": uts},
                        "state": json.loads(state)})
        return out

    def kinds(self) -> list[str]:
        return [call["kind"] for call in self.calls()]


@pytest.fixture
def hooks(tmp_path: Path, bundle: Bundle) -> Hooks:
    found = Hooks(tmp_path / "hooks")
    bundle.config["mounts"].append({"destination": "/tmp", "type": "bind",
                                    "source": str(found.dir), "options": ["rbind", "rw"]})
    return found


def _ns(pid: int | str) -> dict[str, str]:
    return {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in NAMESPACES}


def _cid() -> str:
    return f"h-{uuid.uuid4().hex[:8]}"


def _wait_stopped(limpet: Runtime, cid: str) -> str:
    deadline = time.monotonic() + 10
    status = ""
    while time.monotonic() < deadline:
        status = str(limpet.state(cid)["status"])
        if status == "stopped":
            break
        time.sleep(0.02)
    return status


def _cgroups_of(cid: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/limpet-{cid}") + \
        glob.glob(f"/sys/fs/cgroup/*/limpet-{cid}")


def test_hooks_run_in_order_with_the_state_and_in_the_namespaces_the_spec_gives(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    bundle.config["hooks"] = {
        "prestart": [hooks.hook("prestart")],
        "createRuntime": [hooks.hook("createRuntime")],
        "createContainer": [hooks.hook("createContainer")],
        "startContainer": [hooks.hook("startContainer", inside=True)],
        "poststart": [hooks.hook("poststart")],
        "poststop": [hooks.hook("poststop")],
    }
    bundle.config["annotations"] = {"org.example.hooks": "yes"}
    bundle.set_args("/bin/sleep", "1000").write()
    limpet.extra_env["LEAK"] = "the runtime's environment"   # hooks get their env only
    cid = _cid()
    created = limpet("create", "--bundle", str(bundle.path), cid)
    assert created.returncode == 0, created.stderr
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer"]
    pid = limpet.state(cid)["pid"]
    started = limpet("start", cid)
    assert started.returncode == 0, started.stderr
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer", "startContainer",
                             "poststart"]
    container, host = _ns(pid), _ns("self")
    assert container["mnt"] != host["mnt"] and container["pid"] != host["pid"]
    deleted = limpet("delete", "--force", cid)
    assert deleted.returncode == 0, deleted.stderr
    calls = {call["kind"]: call for call in hooks.calls()}
    assert list(calls) == ["prestart", "createRuntime", "createContainer", "startContainer",
                           "poststart", "poststop"]
    statuses = {kind: call["state"]["status"] for kind, call in calls.items()}
    assert statuses == {"prestart": "creating", "createRuntime": "creating",
                        "createContainer": "creating", "startContainer": "created",
                        "poststart": "running", "poststop": "stopped"}
    for kind, call in calls.items():
        state = call["state"]
        assert (state["id"], state["bundle"], state["ociVersion"]) == (
            cid, str(bundle.path), "1.3.0"), kind
        assert state["annotations"] == {"org.example.hooks": "yes"}, kind
        assert call["argv"] == f"{kind} extra-arg", kind
        assert call["leak"] == "unset", kind
        if kind in ("createContainer", "startContainer"):
            # Container namespace: the pid as the container sees it (runtime.md#state).
            assert call["ns"] == container, kind
            assert state["pid"] == 1, kind
        else:
            assert call["ns"] == host, kind
    for kind in ("prestart", "createRuntime", "poststart"):
        # The runtime's view: the container process's host pid, in the container's mnt ns.
        assert calls[kind]["state"]["pid"] == pid, kind
        assert calls[kind]["target"] == container["mnt"], kind
    assert "pid" not in calls["poststop"]["state"]


def test_a_failing_create_runtime_hook_fails_create_and_leaves_nothing_behind(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    failing = hooks.script("fail.sh", "#!/bin/sh\nfor i in $(seq 1 30); do echo \"line $i\" >&2;"
                                      " done\nexit 3\n")
    bundle.config["hooks"] = {
        "prestart": [hooks.hook("prestart")],
        "createRuntime": [hooks.hook("createRuntime", "fail.sh")],
        "createContainer": [hooks.hook("createContainer")],
        "poststop": [hooks.hook("poststop")],
    }
    bundle.write()
    cid = _cid()
    result = limpet("create", "--bundle", str(bundle.path), cid)
    assert result.returncode != 0
    assert f"hooks.createRuntime[0]: {failing} exited with status 3: " in result.stderr
    assert "line 30" in result.stderr and "line 11" in result.stderr   # the last 20 lines
    assert "line 10" not in result.stderr
    # Stopped and destroyed, then the lifecycle goes on at poststop (runtime.md#lifecycle).
    assert hooks.kinds() == ["prestart", "poststop"]
    container_pid = hooks.calls()[0]["state"]["pid"]
    assert proc_start_time(container_pid) is None
    assert limpet.containers() == []
    assert _cgroups_of(cid) == []


def test_a_failing_create_container_hook_fails_create(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    failing = hooks.script("fail.sh", "#!/bin/sh\necho 'cannot set up the device' >&2\nexit 5\n")
    bundle.config["hooks"] = {"createContainer": [hooks.hook("createContainer", "fail.sh")]}
    bundle.write()
    cid = _cid()
    result = limpet("create", "--bundle", str(bundle.path), cid)
    assert result.returncode != 0
    assert (f"hooks.createContainer[0]: {failing} exited with status 5: cannot set up the "
            "device") in result.stderr
    assert limpet.containers() == []
    assert _cgroups_of(cid) == []


def test_a_timed_out_hook_is_killed_and_fails_create(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    pids = hooks.dir / "pids"
    slow = hooks.script("slow.sh", f"#!/bin/sh\necho $$ > {pids}\nsleep 600 &\n"
                                   f"echo $! >> {pids}\nwait\n")
    bundle.config["hooks"] = {"prestart": [hooks.hook("prestart"),
                                           hooks.hook("prestart", "slow.sh", timeout=1)]}
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), _cid())
    assert result.returncode != 0
    assert f"hooks.prestart[1]: {slow} timed out after 1 s (killed)" in result.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2   # the script and what it started: its process group is killed
    assert [proc_start_time(p) for p in started] == [None, None]
    assert limpet.containers() == []


def test_a_failing_start_container_hook_fails_start_and_the_program_never_runs(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    hooks.script("fail.sh", "#!/bin/sh\necho 'ldconfig: not found' >&2\nexit 4\n")
    bundle.config["hooks"] = {"startContainer": [hooks.hook("startContainer", "fail.sh",
                                                            inside=True)]}
    bundle.set_args("/bin/touch", "/tmp/the-program-ran").write()
    cid = _cid()
    limpet("create", "--bundle", str(bundle.path), cid, check=True)
    result = limpet("start", cid)
    assert result.returncode != 0
    assert ("hooks.startContainer[0]: /tmp/fail.sh exited with status 4: ldconfig: not found"
            in result.stderr)
    assert _wait_stopped(limpet, cid) == "stopped"
    assert not (hooks.dir / "the-program-ran").exists()
    assert limpet("delete", cid).returncode == 0


def test_a_failing_poststart_hook_stops_the_container_and_fails_start(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    failing = hooks.script("fail.sh", "#!/bin/sh\necho 'poststart broke' >&2\nexit 2\n")
    bundle.config["hooks"] = {"poststart": [hooks.hook("poststart", "fail.sh"),
                                            hooks.hook("poststart")]}
    bundle.set_args("/bin/sleep", "1000").write()
    cid = _cid()
    limpet("create", "--bundle", str(bundle.path), cid, check=True)
    result = limpet("start", cid)
    assert result.returncode != 0
    assert (f"hooks.poststart[0]: {failing} exited with status 2: poststart broke"
            in result.stderr)
    assert "the container was stopped" in result.stderr
    assert limpet.state(cid)["status"] == "stopped"
    assert hooks.kinds() == []   # the hooks after the failing one do not run
    assert limpet("delete", cid).returncode == 0


def test_a_failing_poststop_hook_only_warns_and_the_others_still_run(
        limpet: Runtime, bundle: Bundle, hooks: Hooks) -> None:
    failing = hooks.script("fail.sh", "#!/bin/sh\necho 'cleanup failed' >&2\nexit 1\n")
    bundle.config["hooks"] = {"poststop": [hooks.hook("poststop", "fail.sh"),
                                           hooks.hook("poststop")]}
    bundle.set_args("/bin/true").write()
    cid = _cid()
    result = limpet("run", "--bundle", str(bundle.path), cid)
    assert result.returncode == 0, result.stderr
    assert f"hooks.poststop[0]: {failing} exited with status 1: cleanup failed" in result.stderr
    assert hooks.kinds() == ["poststop"]
    assert limpet.containers() == []
