"""The seccomp plugin: linux.seccomp through libseccomp (config-linux.md#seccomp)."""
