"""containerd 1.6's CRI plugin (the Kubernetes RuntimeClass path) with a "limpet" runtime
handler (runc v2 shim, options BinaryName = limpet) and a "runc" handler for reference,
driven over gRPC like the kubelet does: host-network pods (no CNI), containers joining the
pause container's namespaces, ExecSync, resources, stop/remove, and nothing left behind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engines.conftest import LIMPET, RUNC, need, run
from tests.engines.containerd_env import (
    CONTAINERD,
    CTR,
    Containerd,
    cgroup_dirs,
    mounts_under,
    oci_archive,
    remove_cgroups,
    unique,
)
from tests.engines.cri_client import (
    CRIClient,
    CRIError,
    Mount,
    container_config,
    pod_sandbox_config,
)

pytestmark = pytest.mark.root

IMAGE = "docker.io/library/limpet-bb:latest"
HANDLERS = {"runc": RUNC, "limpet": LIMPET}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Containerd]:
    need(CONTAINERD, CTR)
    daemon = Containerd.start(LIMPET, RUNC)
    try:
        daemon.import_image(oci_archive(daemon.tmp / "bb.tar", busybox_tar, IMAGE,
                                        cmd=["/bin/sh"]), "k8s.io")
        daemon.import_image(oci_archive(daemon.tmp / "pause.tar", busybox_tar,
                                        daemon.sandbox_image,
                                        entrypoint=["/bin/sleep", "2147483647"]), "k8s.io")
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def cri(daemon: Containerd) -> Iterator[CRIClient]:
    with CRIClient(daemon.sock) as client:
        yield client


@dataclass
class Pod:
    cri: CRIClient
    daemon: Containerd
    handler: str
    id: str
    config: bytes
    cgroup_parent: str
    out: Path          # a host dir mounted at /out in every container
    log_dir: Path

    def container(self, name: str, cmd: list[str], **kwargs: object) -> str:
        config = container_config(name, IMAGE, command=cmd, log_path=f"{name}.log",
                                  mounts=[Mount("/out", str(self.out))], **kwargs)  # type: ignore[arg-type]
        cid = self.cri.create_container(self.id, config, self.config)
        self.cri.start_container(cid)
        return cid

    def wait_exited(self, cid: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.cri.container_status(cid)
            if status.state == "EXITED":
                return status.exit_code
            time.sleep(0.05)
        raise AssertionError(f"{cid} still {self.cri.container_status(cid).state}\n"
                             f"{self.daemon.log_tail(2000)}")

    def log_lines(self, name: str) -> list[str]:
        """The container's stdout lines from its CRI log ("<time> <stream> <tag> <text>")."""
        text = (self.log_dir / f"{name}.log").read_text()
        return [line.split(" ", 3)[3] for line in text.splitlines()
                if line.split(" ", 3)[1] == "stdout"]


@pytest.fixture(params=sorted(HANDLERS))
def pod(request: pytest.FixtureRequest, daemon: Containerd, cri: CRIClient) -> Iterator[Pod]:
    handler = request.param
    need(HANDLERS[handler])
    cgroup_parent = "/" + unique("limpet-cri")
    name = unique("pod")
    log_dir = daemon.tmp / "logs" / name
    log_dir.mkdir(parents=True)
    config = pod_sandbox_config(name, unique("uid"), cgroup_parent=cgroup_parent,
                                log_directory=str(log_dir))
    try:
        pod_id = cri.run_pod_sandbox(config, handler)
    except CRIError as error:
        pytest.fail(f"RunPodSandbox({handler}): {error}\n{daemon.log_tail(3000)}")
    out = daemon.tmp / f"out-{name}"
    out.mkdir()
    left: list[str] = []
    try:
        yield Pod(cri, daemon, handler, pod_id, config, cgroup_parent, out, log_dir)
        for cid in cri.list_containers():
            cri.stop_container(cid, timeout=0)
            cri.remove_container(cid)
        cri.stop_pod_sandbox(pod_id)
        cri.remove_pod_sandbox(pod_id)
        left += [f"pod {p}" for p in cri.list_pod_sandboxes()]
        left += [f"container {c}" for c in cri.list_containers()]
        state = daemon.tmp / f"cri-root-{handler}" / "k8s.io"
        if state.is_dir():
            left += [f"runtime state {state / n}" for n in os.listdir(state)
                     if not n.startswith("@")]
        for top in cgroup_dirs(cgroup_parent):
            left += [f"cgroup {top / n}" for n in os.listdir(top) if (top / n).is_dir()]
        left += [f"mount {m}" for m in mounts_under(daemon.tmp)]
    finally:
        remove_cgroups(cgroup_parent)
        for f in out.iterdir():
            f.unlink()
        out.rmdir()
    assert not left, f"{handler} left behind: {left}"


def test_version_and_images(cri: CRIClient, daemon: Containerd) -> None:
    version = cri.version()
    assert version["runtime_name"] == "containerd"
    assert version["runtime_api_version"] == "v1"
    assert cri.status()["RuntimeReady"] is True
    assert cri.image_id(IMAGE).startswith("sha256:")
    assert cri.image_id(daemon.sandbox_image).startswith("sha256:")


def test_sandbox_runs_on_handler(pod: Pod) -> None:
    assert pod.cri.pod_sandbox_state(pod.id) == "READY"
    # the shim was given the handler's Root: the runtime keeps the sandbox's state there
    state = pod.daemon.tmp / f"cri-root-{pod.handler}" / "k8s.io" / pod.id
    assert state.is_dir(), sorted(os.listdir(state.parent)) if state.parent.is_dir() else None
    shown = run([HANDLERS[pod.handler], "--root", str(state.parent), "state", pod.id],
                timeout=30, check=True)
    assert json.loads(shown.stdout)["status"] == "running"
    # and it is that binary's state (runc's own state.json has init_process_pid)
    runc_format = "init_process_pid" in json.loads((state / "state.json").read_text())
    assert runc_format == (pod.handler == "runc")


def test_container_exec_limits_stop(pod: Pod) -> None:
    script = ('trap "echo got-term > /out/marker; exit 3" TERM; echo started; '
              "while :; do sleep 0.1; done")
    cid = pod.container("main", ["sh", "-c", script], memory_limit=64 * MiB)
    assert pod.cri.container_status(cid).state == "RUNNING"

    result = pod.cri.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 5)

    # the container joined the pause container's pid namespace (by /proc/PID/ns path)
    result = pod.cri.exec_sync(cid, ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"])
    assert result.stdout.strip() == "/bin/sleep 2147483647", result

    # its cgroup is <cgroup_parent>/<id>, with the memory limit, seen from inside
    result = pod.cri.exec_sync(cid, ["sh", "-c", "cat /proc/self/cgroup; "
                                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    memory = next(x for x in lines if x.split(":")[1] == "memory")
    assert memory.split(":")[2] == f"{pod.cgroup_parent}/{cid}"
    assert int(lines[-1]) == 64 * MiB

    # UpdateContainerResources goes through the runtime's `update --resources -`
    pod.cri.update_container_resources(cid, memory_limit=128 * MiB)
    result = pod.cri.exec_sync(cid, ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    assert int(result.stdout) == 128 * MiB, result

    started = time.monotonic()
    pod.cri.stop_container(cid, timeout=30)
    assert time.monotonic() - started < 20, "SIGTERM did not stop the container"
    status = pod.cri.container_status(cid)
    assert (status.state, status.exit_code) == ("EXITED", 3), status
    assert (pod.out / "marker").read_text() == "got-term\n"
    assert pod.log_lines("main") == ["started"]
    pod.cri.remove_container(cid)
    assert cid not in pod.cri.list_containers()


def test_exit_code_42(pod: Pod) -> None:
    cid = pod.container("exits", ["sh", "-c", "echo bye; exit 42"])
    assert pod.wait_exited(cid) == 42
    status = pod.cri.container_status(cid)
    assert status.reason == "Error", status
    # both set (their order is racy: a container this short can exit before CRI notes it
    # as started, which limpet's slower `start` makes likely)
    assert status.finished_at > 0 and status.started_at > 0
    assert pod.log_lines("exits") == ["bye"]


def test_env_workdir_user(pod: Pod) -> None:
    cid = pod.container("who", ["sh", "-c", 'id -u; id -g; pwd; echo "$GREETING"'],
                        envs={"GREETING": "hello pod"}, working_dir="/tmp",
                        run_as_user=1000)
    assert pod.wait_exited(cid) == 0
    assert pod.log_lines("who") == ["1000", "1000", "/tmp", "hello pod"]   # gid from /etc/passwd


def test_readonly_rootfs(pod: Pod) -> None:
    cid = pod.container("ro", ["sh", "-c", "touch /x 2>&1; echo rc=$?; echo ok > /out/w"],
                        readonly_rootfs=True)
    assert pod.wait_exited(cid) == 0
    lines = pod.log_lines("ro")
    assert "rc=1" in lines and any("Read-only file system" in x for x in lines), lines
    assert (pod.out / "w").read_text() == "ok\n"   # a volume stays writable
