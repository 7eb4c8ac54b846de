"""Unit-test helpers: fake plugins registered like entry points, and bundles in tmp_path.

Nothing here needs root or touches the host: bundles are directories under ``tmp_path``,
config.yaml is a path that does not exist unless a test writes it, and fake plugins are
modules built in memory and served by a patched ``limpet.core.plugins._entry_points``.
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from limpet.core import plugins as plugins_module
from limpet.core.create import CreateRequest, compile_bundle
from limpet.core.default_spec import default_spec
from limpet.core.pluginapi import Backend, PluginInfo, hookimpl

#: The plugin group's entry points, read once: the editable install provides the built-ins.
#: Third-party plugins installed in the same venv are left out, so unit tests are hermetic.
ORIGINAL_ENTRY_POINTS = plugins_module._entry_points
BUILTIN_ENTRY_POINTS = {name: ep for name, ep in ORIGINAL_ENTRY_POINTS().items()
                        if ep.dist is not None and ep.dist.name == "limpet"}


@dataclass
class FakeEntryPoint:
    """What plugins.load needs from an importlib.metadata.EntryPoint."""

    name: str
    module: types.ModuleType
    dist: Any = None

    @property
    def value(self) -> str:
        return self.module.__name__

    def load(self) -> types.ModuleType:
        return self.module


def make_plugin(name: str, claims: tuple[str, ...] = (), *,
                handlers: dict[str, str] | None = None,
                backends: list[Backend] | None = None,
                options: type | None = None,
                default_enabled: bool = True,
                **hooks: Callable[..., Any]) -> types.ModuleType:
    """A plugin module named ``fake_<name>`` with limpet_declare and the given hooks."""
    module = types.ModuleType(f"fake_{name.replace('-', '_')}")
    info = PluginInfo(name=name, version="9.9", claims=claims, options=options,
                      default_enabled=default_enabled)

    def limpet_declare() -> PluginInfo:
        return info

    module.limpet_declare = hookimpl(limpet_declare)  # type: ignore[attr-defined]
    if handlers is not None:
        def limpet_op_handlers() -> dict[str, str]:
            return dict(handlers)

        module.limpet_op_handlers = hookimpl(limpet_op_handlers)  # type: ignore[attr-defined]
    if backends is not None:
        def limpet_backends() -> list[Backend]:
            return list(backends)

        module.limpet_backends = hookimpl(limpet_backends)  # type: ignore[attr-defined]
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


@dataclass
class PluginSet:
    """The entry points ``plugins.load`` sees in a test."""

    entry_points: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, module: types.ModuleType) -> PluginSet:
        self.entry_points[name] = FakeEntryPoint(name, module)
        return self


@pytest.fixture(autouse=True)
def plugin_set(monkeypatch: pytest.MonkeyPatch) -> PluginSet:
    """What plugins.load sees in every unit test: the built-in plugins' real entry points
    (nothing else installed in the venv); tests add fake plugins with ``.add``."""
    found = PluginSet(dict(BUILTIN_ENTRY_POINTS))
    monkeypatch.setattr(plugins_module, "_entry_points",
                        lambda cache_dir=None: dict(found.entry_points))
    return found


@pytest.fixture
def only_fake_plugins(plugin_set: PluginSet) -> PluginSet:
    """No entry points at all but the fake ones a test adds."""
    plugin_set.entry_points.clear()
    return plugin_set


@pytest.fixture
def original_entry_points() -> Callable[[], dict[str, Any]]:
    """The unpatched ``limpet.core.plugins._entry_points``."""
    return ORIGINAL_ENTRY_POINTS


@dataclass
class UnitBundle:
    """A bundle in tmp_path: ``config`` is runc's default config.json, editable."""

    path: Path
    config: dict[str, Any]
    config_file: Path

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def write(self) -> Path:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self.path

    def request(self, **kwargs: Any) -> CreateRequest:
        kwargs.setdefault("config_file", str(self.config_file))
        return CreateRequest("unit-test", str(self.path), str(self.path / "state"), **kwargs)

    def compile(self, **kwargs: Any) -> tuple[Any, Any, Any, Any]:
        """compile_bundle: (spec, raw, plan, plugins); no config.yaml unless one is written."""
        self.write()
        req = self.request(**kwargs)
        return compile_bundle(req, str(Path(req.root) / req.container_id))

    def plan(self, **kwargs: Any) -> Any:
        return self.compile(**kwargs)[2]

    def namespace(self, ns_type: str) -> dict[str, Any]:
        for ns in self.config["linux"]["namespaces"]:
            if ns["type"] == ns_type:
                return dict(ns)
        raise KeyError(ns_type)


@pytest.fixture
def unit_bundle(tmp_path: Path) -> UnitBundle:
    """runc's default config.json without linux.resources, on an empty rootfs dir."""
    path = tmp_path / "bundle"
    (path / "rootfs").mkdir(parents=True)
    config = copy.deepcopy(default_spec())
    config["linux"].pop("resources", None)   # device cgroup rules need the cgroups plugin
    config["process"]["terminal"] = False     # create (detached) cannot allocate a tty
    config["root"]["path"] = str(path / "rootfs")
    return UnitBundle(path, config, tmp_path / "no-such-config.yaml")


@pytest.fixture(name="make_plugin")
def make_plugin_fixture() -> Callable[..., types.ModuleType]:
    """:func:`make_plugin`, for test modules (tests/unit is not a package)."""
    return make_plugin
