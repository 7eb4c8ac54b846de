"""The controller modules, in the order both backends write their settings (lean).

devices first (deny-all before anything runs), then the limits; ``unified`` last so that
raw v2 key/values override converted ones."""

from __future__ import annotations

from . import blkio, cpu, cpuset, devices, hugetlb, memory, network, pids, rdma, unified

CONTROLLERS = (devices, memory, cpu, cpuset, pids, blkio, hugetlb, network, rdma, unified)
