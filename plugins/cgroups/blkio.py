"""linux.resources.blockIO (config-linux.md#block-io): the blkio (v1) and io (v2) controllers.

- weight: v1 ``blkio.bfq.weight`` (the BFQ scheduler's, as runc prefers it), else
  ``blkio.weight`` (CFQ, kernels before 5.0); v2 ``io.bfq.weight`` (same 10-1000 scale),
  else ``io.weight`` = 1 + (weight - 10) * 9999 / 990 (runc's ConvertBlkIOToIOWeightValue);
- weightDevice: the same files, ``"MAJOR:MINOR WEIGHT"`` (``*_device`` files on v1);
- leafWeight (global or per device): v1 ``blkio.leaf_weight[_device]`` (CFQ only); v2 has
  none: an error;
- throttle*: v1 ``blkio.throttle.{read,write}_{bps,iops}_device`` ``"MAJOR:MINOR RATE"``;
  v2 ``io.max`` ``"MAJOR:MINOR rbps=RATE"`` (``wbps``, ``riops``, ``wiops``), a rate of 0
  meaning "no limit" (``max``) as on v1.

0 weights mean "not set" (runc; docker sends 0).
"""

from __future__ import annotations

from limpet.core.errors import SpecError

from .base import Setting, is_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice",
             "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice")
WHERE = "linux.resources.blockIO"
MIN_WEIGHT, MAX_WEIGHT = 10, 1000
WEIGHT_HINT = "no blkio weight file: the device's I/O scheduler must be BFQ (or CFQ)"
LEAF_HINT = "leaf weights need the CFQ I/O scheduler, removed in Linux 5.0"
#: (attribute, JSON name, v1 file, v2 io.max key)
THROTTLES = (
    ("throttle_read_bps_device", "throttleReadBpsDevice", "blkio.throttle.read_bps_device",
     "rbps"),
    ("throttle_write_bps_device", "throttleWriteBpsDevice", "blkio.throttle.write_bps_device",
     "wbps"),
    ("throttle_read_iops_device", "throttleReadIOPSDevice", "blkio.throttle.read_iops_device",
     "riops"),
    ("throttle_write_iops_device", "throttleWriteIOPSDevice",
     "blkio.throttle.write_iops_device", "wiops"),
)


def _check_weight(value: int | None, where: str) -> None:
    if is_set(value) and not MIN_WEIGHT <= value <= MAX_WEIGHT:   # type: ignore[operator]
        raise SpecError(where, f"{value} is outside {MIN_WEIGHT}-{MAX_WEIGHT}")


def validate(resources: Any) -> None:
    blkio = resources.block_io
    if blkio is None:
        return
    _check_weight(blkio.weight, f"{WHERE}.weight")
    _check_weight(blkio.leaf_weight, f"{WHERE}.leafWeight")
    for i, dev in enumerate(blkio.weight_device or []):
        where = f"{WHERE}.weightDevice[{i}]"
        _check_weight(dev.weight, f"{where}.weight")
        _check_weight(dev.leaf_weight, f"{where}.leafWeight")
        _check_device(dev, where)
    for attr, name, _, _ in THROTTLES:
        for i, dev in enumerate(getattr(blkio, attr) or []):
            _check_device(dev, f"{WHERE}.{name}[{i}]")


def _check_device(dev: Any, where: str) -> None:
    for name in ("major", "minor"):
        if getattr(dev, name) < 0:
            raise SpecError(f"{where}.{name}", f"{getattr(dev, name)} is not a device number")


def io_weight(weight: int) -> int:
    """cgroup v2 io.weight (1-10000) for a blkio weight (10-1000)."""
    return 1 + (weight - 10) * 9999 // 990


def _dev(dev: Any) -> str:
    return f"{dev.major}:{dev.minor}"


def v1(resources: Any) -> list[Setting]:
    blkio = resources.block_io
    if blkio is None:
        return []
    out: list[Setting] = []
    if is_set(blkio.weight):
        value = str(blkio.weight)
        out.append(Setting("blkio", "blkio.bfq.weight", value, f"{WHERE}.weight",
                           alternatives=(("blkio.weight", value),), hint=WEIGHT_HINT))
    if is_set(blkio.leaf_weight):
        out.append(Setting("blkio", "blkio.leaf_weight", str(blkio.leaf_weight),
                           f"{WHERE}.leafWeight", hint=LEAF_HINT))
    for i, dev in enumerate(blkio.weight_device or []):
        where = f"{WHERE}.weightDevice[{i}]"
        if is_set(dev.weight):
            value = f"{_dev(dev)} {dev.weight}"
            out.append(Setting("blkio", "blkio.bfq.weight_device", value, f"{where}.weight",
                               alternatives=(("blkio.weight_device", value),),
                               hint=WEIGHT_HINT))
        if is_set(dev.leaf_weight):
            out.append(Setting("blkio", "blkio.leaf_weight_device",
                               f"{_dev(dev)} {dev.leaf_weight}", f"{where}.leafWeight",
                               hint=LEAF_HINT))
    for attr, name, file, _ in THROTTLES:
        for i, dev in enumerate(getattr(blkio, attr) or []):
            out.append(Setting("blkio", file, f"{_dev(dev)} {dev.rate or 0}",
                               f"{WHERE}.{name}[{i}]"))
    return out


def v2(resources: Any) -> list[Setting]:
    blkio = resources.block_io
    if blkio is None:
        return []
    if is_set(blkio.leaf_weight):
        raise SpecError(f"{WHERE}.leafWeight", "cgroup v2 has no leaf weights")
    out: list[Setting] = []
    if is_set(blkio.weight):
        out.append(Setting("io", "io.bfq.weight", str(blkio.weight), f"{WHERE}.weight",
                           alternatives=(("io.weight", str(io_weight(blkio.weight))),),
                           hint=WEIGHT_HINT.replace("blkio", "io")))
    for i, dev in enumerate(blkio.weight_device or []):
        where = f"{WHERE}.weightDevice[{i}]"
        if is_set(dev.leaf_weight):
            raise SpecError(f"{where}.leafWeight", "cgroup v2 has no leaf weights")
        if is_set(dev.weight):
            out.append(Setting("io", "io.bfq.weight", f"{_dev(dev)} {dev.weight}",
                               f"{where}.weight",
                               alternatives=(("io.weight",
                                              f"{_dev(dev)} {io_weight(dev.weight)}"),),
                               hint=WEIGHT_HINT.replace("blkio", "io")))
    for attr, name, _, key in THROTTLES:
        for i, dev in enumerate(getattr(blkio, attr) or []):
            rate = str(dev.rate) if dev.rate else "max"
            out.append(Setting("io", "io.max", f"{_dev(dev)} {key}={rate}",
                               f"{WHERE}.{name}[{i}]"))
    return out
