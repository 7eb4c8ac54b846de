"""Namespaces (config-linux.md#namespaces): create or join each kind; id maps; time offsets;
hostname and domainname. The entry point is :mod:`.plugin`; :mod:`.ops` runs in the init."""
