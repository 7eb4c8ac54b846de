"""Filesystems (config.md#root, #mounts; config-linux.md rootfs propagation, masked and
read-only paths). The entry point is :mod:`.plugin`; :mod:`.ops` runs in the init."""
