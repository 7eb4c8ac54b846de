"""A private containerd 1.6 for the engine tests, and OCI image archives built in Python.

``Containerd.start`` writes its own config.toml (root, state, grpc socket, CRI plugin with a
"runc" and a "limpet" runtime handler) under a temp dir and waits for the socket; ``stop``
removes what is left (tasks, containers, shims, mounts, the namespace cgroups).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTAINERD = shutil.which("containerd") or "/usr/bin/containerd"
CTR = shutil.which("ctr") or "/usr/bin/ctr"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def _blob(tar: tarfile.TarFile, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def oci_archive(target: Path, layer_tar: Path, name: str, entrypoint: list[str] | None = None,
                cmd: list[str] | None = None, env: list[str] | None = None) -> Path:
    """Write an OCI image layout archive (oci-layout, index.json, blobs) holding one image
    named ``name`` whose only layer is ``layer_tar`` (uncompressed)."""
    layer = layer_tar.read_bytes()
    layer_digest = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    image_config: dict[str, Any] = {"Env": env or [PATH_ENV], "WorkingDir": "/"}
    if entrypoint is not None:
        image_config["Entrypoint"] = entrypoint
    if cmd is not None:
        image_config["Cmd"] = cmd
    config = {
        "architecture": _ARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "limpet tests: busybox rootfs"}],
    }
    with tarfile.open(target, "w") as tar:
        _file(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar", **_blob(tar, layer)}
        config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                       **_blob(tar, json.dumps(config).encode())}
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         **_blob(tar, json.dumps(manifest).encode()),
                         "annotations": {"io.containerd.image.name": name,
                                         "org.opencontainers.image.ref.name":
                                             name.rsplit(":", 1)[-1]}}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_desc]}
        _file(tar, "index.json", json.dumps(index).encode())
    return target


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)   # a JSON string is a valid TOML basic string


def config_toml(tmp: Path, limpet: str, runc: str, sandbox_image: str) -> str:
    """containerd config (version 2): everything under ``tmp``; CRI with host-network pods
    only (no CNI), two runtime handlers and ``restrict_oom_score_adj`` (no
    CAP_SYS_RESOURCE here, the sandbox asks for oomScoreAdj -998)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    lines = [
        "version = 2",
        f"root = {_toml(str(tmp / 'root'))}",
        f"state = {_toml(str(tmp / 'state'))}",
        f"plugin_dir = {_toml(str(tmp / 'plugins'))}",
        'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", '
        '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", '
        '"io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", '
        '"io.containerd.internal.v1.tracing"]',
        "[grpc]",
        f"  address = {_toml(str(tmp / 'containerd.sock'))}",
        "[ttrpc]",
        f"  address = {_toml(str(tmp / 'containerd.sock.ttrpc'))}",
        "[debug]",
        '  address = ""',
        '  level = "info"',
        "[metrics]",
        '  address = ""',
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_toml(str(tmp / 'opt'))}",
        f"[{cri}]",
        f"  sandbox_image = {_toml(sandbox_image)}",
        "  restrict_oom_score_adj = true",
        "  disable_apparmor = true",
        "  enable_selinux = false",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        f"[{cri}.cni]",
        f"  bin_dir = {_toml(str(tmp / 'cni-bin'))}",
        f"  conf_dir = {_toml(str(tmp / 'cni-conf'))}",
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
    ]
    for handler, binary in (("runc", runc), ("limpet", limpet)):
        lines += [
            f"[{cri}.containerd.runtimes.{handler}]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.{handler}.options]",
            f"  BinaryName = {_toml(binary)}",
            f"  Root = {_toml(str(tmp / ('cri-root-' + handler)))}",
            "  SystemdCgroup = false",
        ]
    return "\n".join(lines) + "\n"


def _pids_with_arg(needle: str) -> list[int]:
    """Pids of processes one of whose argv entries equals ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle.encode() in argv:
            found.append(int(entry))
    return found


def mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point.startswith(prefix):
                found.append(mount_point)
    return found


@dataclass
class Containerd:
    """A running private containerd; ``ctr(...)`` talks to it."""

    tmp: Path
    limpet: str
    runc: str
    sandbox_image: str = "docker.io/library/limpet-pause:latest"
    proc: subprocess.Popen[bytes] | None = None
    namespaces: set[str] = field(default_factory=set)
    ns: str = field(default_factory=lambda: unique("limpet-test"))   # for ctr tests

    @property
    def sock(self) -> str:
        return str(self.tmp / "containerd.sock")

    @property
    def log(self) -> Path:
        return self.tmp / "containerd.log"

    @classmethod
    def start(cls, limpet: str, runc: str) -> Containerd:
        tmp = Path(tempfile.mkdtemp(prefix="limpet-ctrd-"))
        daemon = cls(tmp, limpet, runc)
        for d in ("root", "state", "opt", "plugins", "cni-bin", "cni-conf", "fifo"):
            (tmp / d).mkdir()
        (tmp / "config.toml").write_text(
            config_toml(tmp, limpet, runc, daemon.sandbox_image))
        with open(daemon.log, "wb") as log:
            daemon.proc = subprocess.Popen(
                [CONTAINERD, "--config", str(tmp / "config.toml")], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                text = daemon.log.read_text(errors="replace")[-3000:]
                daemon.stop()
                raise RuntimeError(f"containerd exited {daemon.proc.returncode}:\n{text}")
            if os.path.exists(daemon.sock) and daemon.ctr("version", timeout=10).returncode == 0:
                return daemon
            time.sleep(0.1)
        text = daemon.log.read_text(errors="replace")[-3000:]
        daemon.stop()
        raise RuntimeError(f"containerd did not come up within 30 s:\n{text}")

    def ctr(self, *args: str, namespace: str = "default", timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        self.namespaces.add(namespace)
        return subprocess.run([CTR, "-a", self.sock, "-n", namespace, *args],
                              capture_output=True, text=True, timeout=timeout, input=input)

    def import_image(self, archive: Path, namespace: str) -> None:
        proc = self.ctr("images", "import", str(archive), namespace=namespace, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ctr images import {archive}: {proc.stderr}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def _clean_namespace(self, ns: str) -> None:
        tasks = self.ctr("tasks", "ls", "-q", namespace=ns, timeout=30).stdout.split()
        for task in tasks:
            self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", task, namespace=ns, timeout=30)
        for task in tasks:
            for _ in range(50):
                if self.ctr("tasks", "rm", "-f", task, namespace=ns, timeout=30).returncode == 0:
                    break
                time.sleep(0.1)
        containers = self.ctr("containers", "ls", "-q", namespace=ns, timeout=30).stdout.split()
        if containers:
            self.ctr("containers", "rm", *containers, namespace=ns, timeout=30)

    def stop(self) -> None:
        """Stop tasks, daemon and shims; unmount and remove everything under the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            for ns in sorted(self.namespaces):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._clean_namespace(ns)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # Shims outlive the daemon by design; ours are the ones given our socket address.
        for pid in _pids_with_arg(self.sock):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pids_with_arg(self.sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        for mount_point in sorted(mounts_under(self.tmp), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount_point], capture_output=True, timeout=30)
        for ns in self.namespaces:
            if ns.startswith("limpet-"):   # ours (never "default" or "k8s.io")
                remove_cgroups(f"/{ns}")
        shutil.rmtree(self.tmp, ignore_errors=True)


def cgroup_dirs(path: str) -> list[Path]:
    """The directories for cgroup ``path`` under every mounted hierarchy."""
    base = Path("/sys/fs/cgroup")
    rel = path.strip("/")
    if not rel:
        return []
    return [hier / rel for hier in sorted(base.iterdir())
            if hier.is_dir() and not hier.is_symlink() and (hier / rel).is_dir()]


def remove_cgroups(path: str) -> None:
    """Kill what is still in cgroup ``path`` (a cgroup of ours, unique per test run: a
    failed test may leave a container's processes there) and rmdir it and its children in
    every hierarchy."""
    for _ in range(50):
        pids: set[int] = set()
        for top in cgroup_dirs(path):
            for dirpath, _dirs, files in os.walk(top):
                if "cgroup.procs" in files:
                    with contextlib.suppress(OSError):
                        pids.update(int(p) for p in
                                    Path(dirpath, "cgroup.procs").read_text().split())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for top in cgroup_dirs(path):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


