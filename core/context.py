"""What hooks receive besides the spec: the container, the bundle, the host, the options."""

from __future__ import annotations

import os

from .idmaps import in_user_namespace
from .record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class HostInfo(Record):
    """Facts about the running kernel that validation and planning may depend on."""

    namespaces: frozenset[str] = field(default_factory=lambda: _host_namespaces())
    #: rootless mode: ``--rootless true|false``, else :func:`auto_rootless`
    rootless: bool = field(default_factory=lambda: auto_rootless())


def auto_rootless() -> bool:
    """``--rootless auto`` (the default, as runc): not root, or root of a user namespace
    that is not the host's (an engine's, such as rootless podman's)."""
    return os.geteuid() != 0 or in_user_namespace()


_NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
             "user": "user", "cgroup": "cgroup", "time": "time"}


def _host_namespaces() -> frozenset[str]:
    return frozenset(t for t, f in _NS_FILES.items() if os.path.exists(f"/proc/self/ns/{f}"))


class PlanContext(Record):
    """Passed to ``limpet_validate`` and ``limpet_plan``."""

    container_id: str
    bundle: str
    state_dir: str
    host: HostInfo
    options: dict[str, Any] = field(default_factory=dict)   # plugin name -> options model
    backends: dict[str, Any] = field(default_factory=dict)  # area -> chosen backend
    no_pivot: bool = False
    no_new_keyring: bool = False   # create --no-new-keyring: keep the caller's session keyring
    #: where a terminal's pty master goes: "socket" (--console-socket), "foreground"
    #: (``run`` without -d proxies it), or None (no terminal possible)
    console: str | None = None

    def options_for(self, plugin: str) -> Any:
        """The plugin's options model: what config.yaml set, or the model's defaults (built
        on first use); None for a plugin without an options model."""
        value = self.options.get(plugin)
        if isinstance(value, DefaultOptions):
            value = self.options[plugin] = value.build()
        return value

    def options_set(self, plugin: str) -> Any:
        """Only what config.yaml set (None otherwise): for a plugin that knows its defaults
        and need not import pydantic to build them on every ``create``."""
        value = self.options.get(plugin)
        return None if isinstance(value, DefaultOptions) else value


class DefaultOptions:
    """A plugin's options when config.yaml sets none: its model's defaults, built lazily."""

    def __init__(self, model: Any) -> None:
        self.model = model   # the model class, or "module:Class"

    def build(self) -> Any:
        return options_model(self.model)()


def options_model(model: Any) -> Any:
    """A plugin's options model (``PluginInfo.options``): the class, or the one its
    ``"module:Class"`` names, imported now."""
    if isinstance(model, str):
        from .entrypoints import resolve

        return resolve(model)
    return model


class ExecContext(PlanContext):
    """Passed to ``limpet_plan_exec``: a :class:`PlanContext` plus the running container."""

    pid: int = 0                                            # the container's init, host pid
    state: dict[str, Any] = field(default_factory=dict)     # its state.json

    @property
    def facts(self) -> dict[str, Any]:
        """What the plugins recorded at create (``ParentContext.facts``)."""
        facts: dict[str, Any] = self.state.get("facts") or {}
        return facts


class LifecycleContext(Record):
    """Passed to lifecycle hooks (created, started, deleted)."""

    container_id: str
    bundle: str
    state_dir: str
    pid: int | None
    state: dict[str, Any]
