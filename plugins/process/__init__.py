"""The process (config.md#process): args, env, cwd, user, capabilities, rlimits,
no_new_privs. The entry point is :mod:`.plugin`; :mod:`.ops` runs in the init."""
