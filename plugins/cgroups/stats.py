"""Resource usage of a container's cgroups, in runc's ``events --stats`` shape (lean).

The document mirrors runc's types.Stats (``cpu``, ``memory``, ``pids``, ``blkio``,
``hugetlb``): times in nanoseconds, sizes in bytes, an unlimited limit as the kernel's
"no limit" number (v1) or 2^64-1 (v2 ``max``), as runc reports them. Files a kernel lacks
are left out rather than failing the whole report.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_UINT64 = 2**64 - 1
#: USER_HZ: cpuacct.stat counts clock ticks.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(directory: str | None, name: str) -> str | None:
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: str | None) -> int:
    if not text:
        return 0
    if text == "max":
        return MAX_UINT64
    try:
        return int(text.split()[0])
    except ValueError:
        return 0


def _keyed(text: str | None) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _entry(directory: str | None, prefix: str) -> dict[str, int]:
    return {"limit": _int(_read(directory, f"{prefix}.limit_in_bytes")),
            "usage": _int(_read(directory, f"{prefix}.usage_in_bytes")),
            "max": _int(_read(directory, f"{prefix}.max_usage_in_bytes")),
            "failcnt": _int(_read(directory, f"{prefix}.failcnt"))}


def v1(dirs: dict[str, str]) -> dict[str, Any]:
    """``dirs``: controller -> the container's directory in that controller's hierarchy."""
    cpu, acct = dirs.get("cpu"), dirs.get("cpuacct")
    ticks = _keyed(_read(acct, "cpuacct.stat"))
    throttle = _keyed(_read(cpu, "cpu.stat"))
    memory = dirs.get("memory")
    raw = _keyed(_read(memory, "memory.stat"))
    pids = dirs.get("pids")
    return {
        "cpu": {
            "usage": {
                "total": _int(_read(acct, "cpuacct.usage")),
                "percpu": [int(x) for x in (_read(acct, "cpuacct.usage_percpu") or "").split()],
                "kernel": ticks.get("system", 0) * 10**9 // CLOCK_TICKS,
                "user": ticks.get("user", 0) * 10**9 // CLOCK_TICKS,
            },
            "throttling": {"periods": throttle.get("nr_periods", 0),
                           "throttled_periods": throttle.get("nr_throttled", 0),
                           "throttled_time": throttle.get("throttled_time", 0)},
        },
        "memory": {
            "cache": raw.get("cache", 0),
            "usage": _entry(memory, "memory"),
            "swap": _entry(memory, "memory.memsw"),
            "kernel": _entry(memory, "memory.kmem"),
            "kernelTCP": _entry(memory, "memory.kmem.tcp"),
            "raw": raw,
        },
        "pids": {"current": _int(_read(pids, "pids.current")),
                 "limit": _pids_limit(_read(pids, "pids.max"))},
        "blkio": _blkio_v1(dirs.get("blkio")),
        "hugetlb": _hugetlb(dirs.get("hugetlb"), "usage_in_bytes", "max_usage_in_bytes",
                            "failcnt"),
    }


def _pids_limit(text: str | None) -> int:
    return 0 if not text or text == "max" else _int(text)


def _blkio_v1(directory: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                      ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
        entries = []
        for line in (_read(directory, name) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1],
                                "value": int(parts[2])})
        out[key] = entries
    return out


def _hugetlb(directory: str | None, usage: str, peak: str | None,
             fails: str) -> dict[str, Any]:
    if directory is None:
        return {}
    out: dict[str, Any] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    sizes = sorted({name.split(".")[1] for name in names
                    if name.startswith("hugetlb.") and name.count(".") >= 2})
    for size in sizes:
        events = _keyed(_read(directory, f"hugetlb.{size}.events"))
        out[size] = {"usage": _int(_read(directory, f"hugetlb.{size}.{usage}")),
                     "max": _int(_read(directory, f"hugetlb.{size}.{peak}")) if peak else 0,
                     "failcnt": events.get("max", 0) if fails == "events"
                     else _int(_read(directory, f"hugetlb.{size}.{fails}"))}
    return out


def v2(directory: str) -> dict[str, Any]:
    cpu = _keyed(_read(directory, "cpu.stat"))
    raw = _keyed(_read(directory, "memory.stat"))
    events = _keyed(_read(directory, "memory.events"))
    swap_usage = _int(_read(directory, "memory.swap.current"))
    usage = _int(_read(directory, "memory.current"))
    return {
        "cpu": {
            "usage": {"total": cpu.get("usage_usec", 0) * 1000,
                      "percpu": [],
                      "kernel": cpu.get("system_usec", 0) * 1000,
                      "user": cpu.get("user_usec", 0) * 1000},
            "throttling": {"periods": cpu.get("nr_periods", 0),
                           "throttled_periods": cpu.get("nr_throttled", 0),
                           "throttled_time": cpu.get("throttled_usec", 0) * 1000},
        },
        "memory": {
            "cache": raw.get("file", 0),
            "usage": {"limit": _int(_read(directory, "memory.max")), "usage": usage,
                      "max": _int(_read(directory, "memory.peak")),
                      "failcnt": events.get("max", 0)},
            # runc reports v2 swap as memory+swap, like v1's memsw
            "swap": {"limit": _int(_read(directory, "memory.swap.max")),
                     "usage": swap_usage + usage,
                     "max": _int(_read(directory, "memory.swap.peak")),
                     "failcnt": 0},
            "raw": raw,
        },
        "pids": {"current": _int(_read(directory, "pids.current")),
                 "limit": _pids_limit(_read(directory, "pids.max"))},
        "blkio": _io_v2(_read(directory, "io.stat")),
        "hugetlb": _hugetlb(directory, "current", None, "events"),
    }


def _io_v2(text: str | None) -> dict[str, Any]:
    bytes_, ios = [], []
    for line in (text or "").splitlines():
        device, *fields = line.split()
        major, minor = (int(x) for x in device.split(":"))
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        for op, b, n in (("Read", "rbytes", "rios"), ("Write", "wbytes", "wios")):
            bytes_.append({"major": major, "minor": minor, "op": op,
                           "value": int(values.get(b, 0))})
            ios.append({"major": major, "minor": minor, "op": op,
                        "value": int(values.get(n, 0))})
    return {"ioServiceBytesRecursive": bytes_, "ioServicedRecursive": ios}
