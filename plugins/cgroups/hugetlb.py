"""linux.resources.hugepageLimits (config-linux.md#huge-page-limits): the hugetlb controller.

``pageSize`` is the kernel's spelling of a huge page size (``2MB``, ``1GB``, ``64KB``): v1
writes ``hugetlb.<size>.limit_in_bytes``, v2 ``hugetlb.<size>.max``. A size the kernel does
not offer (no ``/sys/kernel/mm/hugepages/hugepages-<N>kB``) is an error naming the entry.
"""

from __future__ import annotations

import os

from limpet.core.errors import SpecError

from .base import Setting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED = None
WHERE = "linux.resources.hugepageLimits"
HUGEPAGES = "/sys/kernel/mm/hugepages"
_UNITS = {"KB": 1, "MB": 1024, "GB": 1024 * 1024, "TB": 1024 ** 3, "PB": 1024 ** 4}


def size_kb(page_size: str) -> int:
    """``2MB`` -> 2048 (the kernel's hugepages-<N>kB directory name)."""
    return int(page_size[:-2]) * _UNITS[page_size[-2:]]


def validate(resources: Any) -> None:
    limits = resources.hugepage_limits or []
    if not limits or not os.path.isdir(HUGEPAGES):
        if limits:
            raise SpecError(WHERE, f"this kernel offers no huge pages ({HUGEPAGES} is absent)")
        return
    offered = sorted(os.listdir(HUGEPAGES))
    seen: set[str] = set()
    for i, entry in enumerate(limits):
        where = f"{WHERE}[{i}].pageSize"
        if f"hugepages-{size_kb(entry.page_size)}kB" not in offered:
            names = ", ".join(_spelled(n) for n in offered) or "none"
            raise SpecError(where, f"{entry.page_size} is not a huge page size of this "
                            f"kernel (it offers: {names})")
        if entry.page_size in seen:
            raise SpecError(where, f"{entry.page_size} appears twice")
        seen.add(entry.page_size)


def _spelled(directory: str) -> str:
    kb = int(directory.removeprefix("hugepages-").removesuffix("kB"))
    for unit in ("PB", "TB", "GB", "MB"):
        if kb % _UNITS[unit] == 0:
            return f"{kb // _UNITS[unit]}{unit}"
    return f"{kb}KB"


def _settings(resources: Any, suffix: str) -> list[Setting]:
    return [Setting("hugetlb", f"hugetlb.{entry.page_size}.{suffix}", str(entry.limit),
                    f"{WHERE}[{i}]") for i, entry in enumerate(resources.hugepage_limits or [])]


def v1(resources: Any) -> list[Setting]:
    return _settings(resources, "limit_in_bytes")


def v2(resources: Any) -> list[Setting]:
    return _settings(resources, "max")
