"""The cgroups plugin: linux.cgroupsPath and linux.resources (config-linux.md#control-groups).

Layout (every module except :mod:`.plugin` is lean: standard library and ``limpet.core``):

- :mod:`.plugin`: the hooks (claims, validation, plan); the entry point;
- :mod:`.paths`: what ``linux.cgroupsPath`` means (config-linux.md#cgroups-path);
- :mod:`.host`: the host's cgroup mounts and the runtime's own cgroup; backend detection;
- :mod:`.base`: the records the backends share (a cgroup directory, one setting);
- :mod:`.v1`, :mod:`.v2`: the cgroupfs backends (one directory per hierarchy, or one);
- :mod:`.memory`, :mod:`.cpu`, :mod:`.cpuset`, :mod:`.pids`, :mod:`.devices`: one module per
  controller, converting its part of ``linux.resources`` into file writes for v1 and v2;
- :mod:`.cgfs`: the few file operations on a cgroupfs (write, read, mkdir, rmdir);
- :mod:`.ops`: the op handlers and :func:`.ops.cgroup_pids`.

This file must stay import-free: the lean init imports the submodules.
"""
