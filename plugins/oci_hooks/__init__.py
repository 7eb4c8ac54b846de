"""OCI hooks (config.md#posix-platform-hooks): prestart, createRuntime, createContainer,
startContainer, poststart and poststop. The entry point is :mod:`.plugin`; :mod:`.ops`
(with :mod:`.runner`) runs in the runtime process and in the container's init."""
