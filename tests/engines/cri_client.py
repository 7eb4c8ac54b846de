"""A small CRI v1 client (runtime.v1.RuntimeService / ImageService) over grpcio.

No generated stubs: the few messages the engine tests need are encoded and decoded by hand
with a minimal protobuf wire-format codec (field numbers from k8s.io/cri-api
pkg/apis/runtime/v1/api.proto). Fields not set are simply not sent, as proto3 does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc

# --- protobuf wire format -------------------------------------------------------------------

VARINT, LEN = 0, 2

Fields = dict[int, list[Any]]


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64   # int32/int64 negatives are ten-byte two's complement varints
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def f_int(number: int, value: int | bool) -> bytes:
    return _key(number, VARINT) + _varint(int(value)) if value else b""


def f_bytes(number: int, value: bytes) -> bytes:
    return _key(number, LEN) + _varint(len(value)) + value


def f_str(number: int, value: str) -> bytes:
    return f_bytes(number, value.encode()) if value else b""


def f_msg(number: int, value: bytes | None) -> bytes:
    """A sub-message; ``b""`` still sends the (empty) message, ``None`` leaves it out."""
    return b"" if value is None else f_bytes(number, value)


def f_strs(number: int, values: Iterable[str]) -> bytes:
    return b"".join(f_bytes(number, v.encode()) for v in values)


def f_map(number: int, mapping: dict[str, str]) -> bytes:
    return b"".join(f_bytes(number, f_str(1, k) + f_str(2, v)) for k, v in mapping.items())


def decode(data: bytes) -> Fields:
    """Field number -> list of values (ints for varints, bytes for length-delimited)."""
    fields: Fields = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire_type = key >> 3, key & 7
        value: Any
        if wire_type == VARINT:
            value = varint()
        elif wire_type == LEN:
            length = varint()
            value = data[pos:pos + length]
            pos += length
        elif wire_type == 1:
            value = data[pos:pos + 8]
            pos += 8
        elif wire_type == 5:
            value = data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def g_int(fields: Fields, number: int, signed32: bool = False) -> int:
    value = int(fields.get(number, [0])[-1])
    if value >= 1 << 63:
        value -= 1 << 64
    if signed32 and value >= 1 << 31:
        value -= 1 << 32
    return value


def g_bytes(fields: Fields, number: int) -> bytes:
    return bytes(fields.get(number, [b""])[-1])


def g_str(fields: Fields, number: int) -> str:
    return g_bytes(fields, number).decode(errors="replace")


def g_map(fields: Fields, number: int) -> dict[str, str]:
    out = {}
    for entry in fields.get(number, []):
        kv = decode(entry)
        out[g_str(kv, 1)] = g_str(kv, 2)
    return out


# --- CRI messages ---------------------------------------------------------------------------

POD, CONTAINER, NODE = 0, 1, 2                       # NamespaceMode
CONTAINER_STATES = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}
SANDBOX_STATES = {0: "READY", 1: "NOTREADY"}


def namespace_options(network: int = NODE, pid: int = POD, ipc: int = POD) -> bytes:
    return f_int(1, network) + f_int(2, pid) + f_int(3, ipc)


def pod_sandbox_config(name: str, uid: str, namespace: str = "default",
                       cgroup_parent: str = "", log_directory: str = "",
                       network: int = NODE, pid: int = POD, ipc: int = POD) -> bytes:
    metadata = f_str(1, name) + f_str(2, uid) + f_str(3, namespace)
    security = f_msg(1, namespace_options(network, pid, ipc))
    linux = f_str(1, cgroup_parent) + f_msg(2, security)
    return (f_msg(1, metadata) + f_str(3, log_directory) + f_msg(8, linux))


@dataclass
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False

    def encode(self) -> bytes:
        return f_str(1, self.container_path) + f_str(2, self.host_path) + f_int(3, self.readonly)


def container_config(name: str, image: str, command: list[str] | None = None,
                     args: list[str] | None = None, working_dir: str = "",
                     envs: dict[str, str] | None = None, mounts: list[Mount] | None = None,
                     log_path: str = "", memory_limit: int = 0, cpu_shares: int = 0,
                     run_as_user: int | None = None, readonly_rootfs: bool = False,
                     network: int = NODE, pid: int = POD, ipc: int = POD) -> bytes:
    resources = f_int(3, cpu_shares) + f_int(4, memory_limit)
    security = f_msg(3, namespace_options(network, pid, ipc)) + f_int(7, readonly_rootfs)
    if run_as_user is not None:
        security += f_msg(5, f_int(1, run_as_user))
    linux = f_msg(1, resources) + f_msg(2, security)
    envs_encoded = b"".join(f_msg(6, f_str(1, k) + f_str(2, v)) for k, v in (envs or {}).items())
    return (f_msg(1, f_str(1, name)) + f_msg(2, f_str(1, image)) + f_strs(3, command or [])
            + f_strs(4, args or []) + f_str(5, working_dir) + envs_encoded
            + b"".join(f_msg(7, m.encode()) for m in mounts or []) + f_str(11, log_path)
            + f_msg(15, linux))


@dataclass
class ContainerStatus:
    id: str
    name: str
    state: str
    exit_code: int
    reason: str
    message: str
    started_at: int
    finished_at: int
    info: dict[str, str]


@dataclass
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


class CRIError(Exception):
    def __init__(self, method: str, error: grpc.RpcError) -> None:
        self.code = error.code() if isinstance(error, grpc.Call) else None
        self.details = error.details() if isinstance(error, grpc.Call) else str(error)
        super().__init__(f"{method}: {self.code}: {self.details}")


class CRIClient:
    """Blocking calls to a CRI endpoint (a unix socket path)."""

    def __init__(self, socket_path: str, timeout: float = 60) -> None:
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> CRIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, service: str, method: str, request: bytes,
             timeout: float | None = None) -> Fields:
        stub = self.channel.unary_unary(f"/runtime.v1.{service}/{method}")
        try:
            response = stub(request, timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise CRIError(method, error) from None
        return decode(bytes(response))

    def runtime(self, method: str, request: bytes = b"", timeout: float | None = None) -> Fields:
        return self.call("RuntimeService", method, request, timeout)

    # RuntimeService
    def version(self) -> dict[str, str]:
        fields = self.runtime("Version", f_str(1, "v1"))
        return {"version": g_str(fields, 1), "runtime_name": g_str(fields, 2),
                "runtime_version": g_str(fields, 3), "runtime_api_version": g_str(fields, 4)}

    def status(self) -> dict[str, bool]:
        status = decode(g_bytes(self.runtime("Status", b""), 1))
        conditions = {}
        for raw in status.get(1, []):
            cond = decode(raw)
            conditions[g_str(cond, 1)] = bool(g_int(cond, 2))
        return conditions

    def run_pod_sandbox(self, config: bytes, runtime_handler: str) -> str:
        return g_str(self.runtime("RunPodSandbox", f_msg(1, config) + f_str(2, runtime_handler),
                                  timeout=120), 1)

    def stop_pod_sandbox(self, pod_id: str) -> None:
        self.runtime("StopPodSandbox", f_str(1, pod_id), timeout=120)

    def remove_pod_sandbox(self, pod_id: str) -> None:
        self.runtime("RemovePodSandbox", f_str(1, pod_id), timeout=120)

    def pod_sandbox_state(self, pod_id: str) -> str:
        status = decode(g_bytes(self.runtime("PodSandboxStatus", f_str(1, pod_id)), 1))
        return SANDBOX_STATES.get(g_int(status, 3), "?")

    def list_pod_sandboxes(self) -> list[str]:
        items = self.runtime("ListPodSandbox", b"").get(1, [])
        return [g_str(decode(item), 1) for item in items]

    def create_container(self, pod_id: str, config: bytes, sandbox_config: bytes) -> str:
        request = f_str(1, pod_id) + f_msg(2, config) + f_msg(3, sandbox_config)
        return g_str(self.runtime("CreateContainer", request, timeout=120), 1)

    def start_container(self, container_id: str) -> None:
        self.runtime("StartContainer", f_str(1, container_id), timeout=120)

    def stop_container(self, container_id: str, timeout: int = 10) -> None:
        self.runtime("StopContainer", f_str(1, container_id) + f_int(2, timeout),
                     timeout=timeout + 60)

    def remove_container(self, container_id: str) -> None:
        self.runtime("RemoveContainer", f_str(1, container_id), timeout=120)

    def list_containers(self) -> list[str]:
        items = self.runtime("ListContainers", b"").get(1, [])
        return [g_str(decode(item), 1) for item in items]

    def container_status(self, container_id: str, verbose: bool = False) -> ContainerStatus:
        fields = self.runtime("ContainerStatus", f_str(1, container_id) + f_int(2, verbose))
        status = decode(g_bytes(fields, 1))
        metadata = decode(g_bytes(status, 2))
        return ContainerStatus(
            id=g_str(status, 1), name=g_str(metadata, 1),
            state=CONTAINER_STATES.get(g_int(status, 3), "?"),
            exit_code=g_int(status, 7, signed32=True), reason=g_str(status, 10),
            message=g_str(status, 11), started_at=g_int(status, 5),
            finished_at=g_int(status, 6), info=g_map(fields, 2))

    def exec_sync(self, container_id: str, cmd: list[str], timeout: int = 30) -> ExecResult:
        fields = self.runtime("ExecSync", f_str(1, container_id) + f_strs(2, cmd)
                              + f_int(3, timeout), timeout=timeout + 30)
        return ExecResult(g_bytes(fields, 1).decode(errors="replace"),
                          g_bytes(fields, 2).decode(errors="replace"),
                          g_int(fields, 3, signed32=True))

    def update_container_resources(self, container_id: str, memory_limit: int = 0,
                                   cpu_shares: int = 0) -> None:
        resources = f_int(3, cpu_shares) + f_int(4, memory_limit)
        self.runtime("UpdateContainerResources", f_str(1, container_id) + f_msg(2, resources))

    # ImageService
    def image_id(self, image: str) -> str:
        """The image's id, or "" when the CRI plugin does not know it."""
        fields = self.call("ImageService", "ImageStatus", f_msg(1, f_str(1, image)))
        return g_str(decode(g_bytes(fields, 1)), 1) if 1 in fields else ""
