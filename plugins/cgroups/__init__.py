"""The cgroups plugin: linux.cgroupsPath and linux.resources (config-linux.md#control-groups).

Layout (every module except :mod:`.plugin` and :mod:`.update` is lean: standard library and
``limpet.core``):

- :mod:`.plugin`: the hooks (claims, validation, plan, backends); the entry point;
- :mod:`.paths`: what ``linux.cgroupsPath`` means (config-linux.md#cgroups-path);
- :mod:`.host`: the host's cgroup mounts and the runtime's own cgroup; backend detection;
- :mod:`.base`: the records the backends share (a cgroup directory, one setting);
- :mod:`.v1`, :mod:`.v2`: the cgroupfs backends (one directory per hierarchy, or one);
- one module per controller, converting its part of ``linux.resources`` into file writes for
  v1 and v2: :mod:`.memory`, :mod:`.cpu`, :mod:`.cpuset`, :mod:`.pids`, :mod:`.blkio`,
  :mod:`.hugetlb`, :mod:`.network`, :mod:`.rdma`, :mod:`.unified`, :mod:`.devices` (with
  :mod:`.bpf_devices`, the v2 BPF device filter);
- :mod:`.cgfs`: the few file operations on a cgroupfs (write, read, mkdir, rmdir);
- :mod:`.ops`: the op handlers and :func:`.ops.cgroup_pids`;
- :mod:`.control`: what the verbs after create call (found through ``facts["control"]``):
  :mod:`.freezer` (pause, resume), :mod:`.stats`, :mod:`.events` (OOM, the stream),
  :mod:`.update` (pydantic: update only).

This file must stay import-free: the lean init imports the submodules.
"""
