"""Devices (config-linux.md#devices, #default-devices). The entry point is :mod:`.plugin`;
:mod:`.ops` runs in the init."""
