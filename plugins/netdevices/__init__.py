"""Network devices (config-linux.md#network-devices). The entry point is :mod:`.plugin`;
:mod:`.ops` (with :mod:`.netlink`) runs in the runtime process."""
