"""The plugin manager: every plugin, built-in or not, comes from the ``limpet.plugins``
entry-point group and is registered the same way.

config.yaml decides which are enabled: plugins that declare ``default_enabled`` unless
blocked, plus those listed in ``plugins.enable``. Claims must not overlap, op kinds must
not be defined twice, and each plugin's options are validated by its own model.
"""

from __future__ import annotations

import os
import sys
import time

from . import hookspecs
from .config import DefaultConfig, config_error, line_of
from .context import DefaultOptions, options_model
from .errors import ConfigError
from .pluginapi import Backend, PluginInfo
from .record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    import pluggy

    from .configmodel import RuntimeConfig

GROUP = "limpet.plugins"


class LoadedPlugin(Record):
    info: PluginInfo
    module: ModuleType
    source: str          # distribution name and version that provides the entry point
    entry_point: str
    options: Any = None

    @property
    def hooks(self) -> list[str]:
        return sorted(n for n in dir(self.module) if n.startswith("limpet_")
                      and callable(getattr(self.module, n)))


class Plugins(Record):
    """The enabled plugins, their merged declarations, and the pluggy manager."""

    loaded: dict[str, LoadedPlugin] = field(default_factory=dict)
    disabled: dict[str, LoadedPlugin] = field(default_factory=dict)   # opt-in, not enabled
    available: dict[str, Any] = field(default_factory=dict)   # name -> entry point
    claims: dict[str, str] = field(default_factory=dict)      # path -> plugin
    handlers: dict[str, str] = field(default_factory=dict)    # op kind -> module:function
    backends: dict[str, dict[str, Backend]] = field(default_factory=dict)
    config_file: str | None = None
    manager: pluggy.PluginManager | None = None   # built on first use: see pm

    @property
    def pm(self) -> pluggy.PluginManager:
        """pluggy's manager, every enabled plugin registered. Built on first use: ``create``
        and ``exec`` call the plan hooks one by one themselves (see :func:`verify_hooks`),
        so pluggy is imported only when a lifecycle hook is dispatched through it."""
        if self.manager is None:
            self.manager = _manager(self.loaded)
        return self.manager

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def options(self) -> dict[str, Any]:
        return {name: p.options for name, p in self.loaded.items()}


def _trace_hooks(pm: pluggy.PluginManager) -> None:
    """LIMPET_TRACE=1: time every hook call dispatched through pluggy (lifecycle hooks)."""
    from .trace import emit

    starts: dict[str, float] = {}

    def before(hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        starts[hook_name] = time.perf_counter()

    def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        names = ",".join(i.plugin_name for i in hook_impls)
        emit(f"hook {hook_name} [{names}]", starts.pop(hook_name, time.perf_counter()))

    pm.add_hookcall_monitoring(before, after)


def _manager(loaded: dict[str, LoadedPlugin]) -> pluggy.PluginManager:
    import pluggy

    pm = pluggy.PluginManager("limpet")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("LIMPET_TRACE"):
        _trace_hooks(pm)
    for name, plugin in loaded.items():
        try:
            pm.register(plugin.module, name=name)
        except pluggy.PluginValidationError as exc:
            raise ConfigError(f"plugin {name!r}", str(exc)) from None
    return pm


def _required_args(func: Any) -> tuple[str, ...]:
    """The positional parameters without defaults (what pluggy calls a hook's argnames)."""
    code = func.__code__
    names: tuple[str, ...] = code.co_varnames[:code.co_argcount]
    return names[:len(names) - len(func.__defaults__ or ())]


def verify_hooks(name: str, module: ModuleType) -> None:
    """What pluggy checks when it registers a plugin, done when it is loaded, without
    importing pluggy: an implementation of a known hook asks only for arguments the hook
    offers, and a wrapper is a generator (a hook no spec defines is let through, as pluggy
    lets it through until ``check_pending``)."""
    for attr in dir(module):
        func = getattr(module, attr)
        opts = getattr(func, "limpet_impl", None)
        if not isinstance(opts, dict):
            continue
        func = getattr(func, "__func__", func)
        while hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        spec = getattr(hookspecs, opts.get("specname") or attr, None)
        if spec is None or not hasattr(func, "__code__"):
            continue
        extra = [a for a in _required_args(func) if a not in _required_args(spec)]
        if extra:
            raise ConfigError(f"plugin {name!r}", f"{attr}() asks for {', '.join(extra)}, "
                              f"which hook {spec.__name__} does not offer (it offers "
                              f"{', '.join(_required_args(spec)) or 'nothing'})")
        if (opts.get("wrapper") or opts.get("hookwrapper")) \
                and not func.__code__.co_flags & 0x20:   # CO_GENERATOR
            raise ConfigError(f"plugin {name!r}", f"{attr}() is a hook wrapper but not a "
                              "generator function")


def _entry_points(cache_dir: str | None = None) -> dict[str, Any]:
    """The group's entry points by name (cached in ``cache_dir``: :mod:`.entrypoints`)."""
    from . import entrypoints

    found: dict[str, Any] = {}
    for ep in entrypoints.load(GROUP, cache_dir, on_scan=_add_site_packages):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ConfigError(f"entry point {ep.name!r}",
                              f"defined twice ({found[ep.name].value} and {ep.value})")
        found[ep.name] = ep
    return found


def _add_site_packages() -> bool:
    """Under the launcher scripts/setup.sh writes (python -S, for speed), the .pth files of
    site-packages were not read: read them now, so that plugins installed through one (an
    editable install) are found. Done only when a plugin is not found without them (and
    before a scan of the installed distributions): ~1.5 ms. True if anything was read."""
    global _site_read
    if not sys.flags.no_site or _site_read:
        return False
    _site_read = True
    import site

    for entry in list(sys.path):
        if entry.endswith("site-packages"):
            site.addsitedir(entry)
    return True


_site_read = False


def _load_entry_point(ep: Any) -> Any:
    """``ep.load()``; if its module is not found, again once the .pth files are read."""
    try:
        return ep.load()
    except ImportError:
        if not _add_site_packages():
            raise
        return ep.load()


def load(config: RuntimeConfig | DefaultConfig, doc: Any = None, config_file: str = "config.yaml",
         cache_dir: str | None = None) -> Plugins:
    """Load the enabled plugins. ``cache_dir``: where the entry points may be cached (the
    state root; None: scan the installed distributions)."""
    plugins = Plugins(available=_entry_points(cache_dir), config_file=config_file)
    section = config.plugins
    named: list[tuple[tuple[str | int, ...], str]] = [
        *((("plugins", "enable", i), n) for i, n in enumerate(section.enable)),
        *((("plugins", "block", i), n) for i, n in enumerate(section.block)),
        *((("plugins", "options", n), n) for n in section.options)]
    for loc, name in named:
        if name not in plugins.available:
            known = ", ".join(sorted(plugins.available)) or "none"
            line = line_of(doc, loc) if doc is not None else None
            dotted = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
            raise ConfigError(f"{config_file}:{line}" if line else config_file,
                              f"{dotted.replace('.[', '[')}: unknown plugin {name!r}; "
                              f"installed: {known}")
    for name, ep in sorted(plugins.available.items()):
        if name in section.block:
            continue
        try:
            module = _load_entry_point(ep)
            declared: PluginInfo = module.limpet_declare()
        except Exception as exc:  # a broken third-party plugin must be named
            if name in section.enable:
                raise ConfigError(f"plugin {name!r}", f"cannot load {ep.value}: {exc}") from exc
            # Claims keep this safe: a field the broken plugin would apply is now unclaimed,
            # so a container that needs it fails to create.
            from .log import log

            log.warning(f"plugin {name!r} skipped: cannot load {ep.value}: {exc}")
            continue
        dist = ep.dist
        source = f"{dist.name} {dist.version}" if dist is not None else "unknown"
        if not declared.default_enabled and name not in section.enable:
            plugins.disabled[name] = LoadedPlugin(declared, module, source, ep.value)
            continue
        verify_hooks(name, module)
        plugins.loaded[name] = LoadedPlugin(declared, module, source, ep.value)
    for name in section.options:
        if name not in plugins.loaded:
            raise ConfigError(config_file, f"plugins.options.{name}: plugin {name!r} is not "
                              "enabled (list it in plugins.enable, or drop its options)")
    _check(plugins, config, doc, config_file)
    return plugins


def _check(plugins: Plugins, config: RuntimeConfig | DefaultConfig, doc: Any,
           config_file: str) -> None:
    kind_owner: dict[str, str] = {}
    backend_owner: dict[tuple[str, str], str] = {}
    for name, plugin in plugins.loaded.items():
        for path in plugin.info.claims:
            other = plugins.claims.get(path)
            if other:
                raise ConfigError(config_file, f"plugins {other!r} and {name!r} both claim "
                                  f"{path!r}; block one of them in plugins.block")
            plugins.claims[path] = name
        handlers = getattr(plugin.module, "limpet_op_handlers", None)
        for kind, target in (handlers() if handlers else {}).items():
            if kind in kind_owner:
                raise ConfigError(config_file, f"op kind {kind!r} is defined by plugins "
                                  f"{kind_owner[kind]!r} and {name!r}; block one of them in "
                                  "plugins.block")
            kind_owner[kind] = name
            plugins.handlers[kind] = target
        backends = getattr(plugin.module, "limpet_backends", None)
        for backend in backends() if backends else []:
            key = (backend.area, backend.name)
            if key in backend_owner:
                raise ConfigError(config_file, f"backend {backend.name!r} of area "
                                  f"{backend.area!r} is offered by plugins "
                                  f"{backend_owner[key]!r} and {name!r}; block one of them")
            backend_owner[key] = name
            plugins.backends.setdefault(backend.area, {})[backend.name] = backend
        raw = config.plugins.options.get(name)
        if raw is None:   # the model's defaults, built only if the plugin asks for them
            plugin.options = DefaultOptions(plugin.info.options) if plugin.info.options else None
        elif plugin.info.options is not None:
            from pydantic import ValidationError

            try:
                plugin.options = options_model(plugin.info.options).model_validate(raw)
            except ValidationError as exc:
                raise config_error(exc, doc, config_file,
                                   prefix=("plugins", "options", name)) from None
        elif raw:
            raise ConfigError(config_file, f"plugins.options.{name}: plugin {name!r} takes "
                              "no options")
    for path, owner in sorted(plugins.claims.items()):
        parts = path.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in plugins.claims:
                raise ConfigError(config_file, f"plugin {owner!r} claims {path!r} inside "
                                  f"{parent!r}, claimed by {plugins.claims[parent]!r}")
    for area, name in config.backends.items():
        if name not in plugins.backends.get(area, {}):
            known = ", ".join(sorted(n for n, b in plugins.backends.get(area, {}).items()
                                     if not b.unavailable)) or "none"
            raise ConfigError(config_file, f"backends.{area}: unknown backend {name!r}; "
                              f"available: {known}")
        reason = plugins.backends[area][name].unavailable
        if reason:
            usable = ", ".join(sorted(n for n, b in plugins.backends[area].items()
                                      if not b.unavailable)) or "none"
            raise ConfigError(config_file, f"backends.{area}: backend {name!r} is "
                              f"unavailable: {reason}; available: {usable}")
