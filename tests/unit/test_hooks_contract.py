"""The plugin contract, enforced: every hook is documented and tested (as datasette's
test_plugin_hooks_are_documented / test_plugin_hooks_have_tests), every built-in plugin
declares what it claims, every op handler is importable, and the code that runs in the
container's init stays lean (no pydantic, pluggy, rich or ruamel in its memory)."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import limpet.plugins
import pytest
from limpet.core import hookspecs, plugins
from limpet.core.configmodel import PluginsSection, RuntimeConfig
from limpet.core.context import options_model
from limpet.core.pluginapi import PluginInfo
from limpet.core.spec import Spec, fields, model_in
from pydantic import BaseModel

HEAVY = ("pydantic", "pluggy", "rich", "ruamel")
TESTS_DIR = Path(__file__).resolve().parents[1]
HOOKSPECS = sorted(name for name, obj in vars(hookspecs).items()
                   if name.startswith("limpet_") and hasattr(obj, "limpet_spec"))
BUILTIN_ENTRY_POINTS = {ep.name: ep for ep in metadata.distribution("limpet").entry_points
                        if ep.group == plugins.GROUP}
BUILTINS = sorted(BUILTIN_ENTRY_POINTS)


def builtin_module(name: str) -> types.ModuleType:
    module: types.ModuleType = BUILTIN_ENTRY_POINTS[name].load()
    return module


def builtin_info(name: str) -> PluginInfo:
    info: PluginInfo = builtin_module(name).limpet_declare()
    return info


def builtin_handlers() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in BUILTINS:
        hook = getattr(builtin_module(name), "limpet_op_handlers", None)
        found.update(hook() if hook else {})
    return found


def imported_heavy_modules(module: str) -> list[str]:
    """The heavy packages a fresh interpreter holds after importing ``module``."""
    code = (f"import json, sys, {module}; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    result: list[str] = json.loads(out)
    return result


# --- hooks -----------------------------------------------------------------------------------

def test_hookspecs_are_found() -> None:
    assert {"limpet_declare", "limpet_op_handlers", "limpet_backends", "limpet_validate",
            "limpet_plan", "limpet_created", "limpet_started", "limpet_deleted"} <= set(
        HOOKSPECS)


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_has_a_docstring_of_two_lines_or_more(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len([line for line in doc.splitlines() if line.strip()]) >= 2, hook


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_is_referenced_by_a_test(hook: str) -> None:
    this = Path(__file__).resolve()
    for path in sorted(TESTS_DIR.rglob("*.py")):
        if path.resolve() != this and hook in path.read_text():
            return
    pytest.fail(f"no test under {TESTS_DIR} mentions {hook}")


def test_lifecycle_hooks_are_hookspecs() -> None:
    assert set(hookspecs.LIFECYCLE_HOOKS) <= set(HOOKSPECS)


def test_hookspec_bodies_raise_not_implemented() -> None:
    for hook in HOOKSPECS:
        with pytest.raises(NotImplementedError):
            getattr(hookspecs, hook)(**dict.fromkeys(
                inspect.signature(getattr(hookspecs, hook)).parameters))


# --- built-in plugins ------------------------------------------------------------------------

def test_builtin_plugins_are_registered_as_entry_points() -> None:
    assert {"namespaces", "mounts", "devices", "process"} <= set(BUILTINS)
    package = Path(limpet.plugins.__file__).parent
    with_plugin_module = {p.parent.name for p in package.glob("*/plugin.py")}
    assert with_plugin_module <= set(BUILTINS)
    for name in BUILTINS:
        assert BUILTIN_ENTRY_POINTS[name].value == f"limpet.plugins.{name}.plugin"


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_plugin_declares_itself_with_claims(name: str) -> None:
    module = builtin_module(name)
    assert hasattr(module.limpet_declare, "limpet_impl"), "limpet_declare is not a hookimpl"
    info = builtin_info(name)
    assert isinstance(info, PluginInfo)
    assert info.name == name
    assert info.version
    assert info.claims, f"plugin {name!r} claims nothing"


def _spec_field_exists(path: str) -> bool:
    model: Any = Spec
    for part in path.split("."):
        if model is None or part not in dict(fields(model)).values():
            return False
        model = model_in(model, part)
    return True


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_claims_name_fields_config_json_defines(name: str) -> None:
    for claim in builtin_info(name).claims:
        assert _spec_field_exists(claim), f"{name} claims {claim!r}, not a config.json field"


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_features_fragment_is_a_document_fragment(name: str) -> None:
    """A dict, or the "module:function" returning one (called only by limpet features)."""
    fragment = builtin_info(name).features_fragment()
    assert isinstance(fragment, dict)
    assert set(fragment) <= {"linux", "mountOptions", "hooks", "annotations"}


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_options_model_forbids_unknown_keys(name: str) -> None:
    declared = builtin_info(name).options
    if declared is None:
        return
    assert isinstance(declared, str), "built-ins name their model: no pydantic per create"
    options = options_model(declared)
    assert issubclass(options, BaseModel)
    assert options.model_config.get("extra") == "forbid"
    options()   # every option has a default


def test_all_builtin_plugins_load_together_and_implement_only_known_hooks() -> None:
    opt_in = [n for n in BUILTINS if not builtin_info(n).default_enabled]
    config = RuntimeConfig(plugins=PluginsSection(enable=opt_in))
    loaded = plugins.load(config)
    assert set(loaded.loaded) >= set(BUILTINS) - set(opt_in)
    loaded.pm.check_pending()   # a limpet_* function that matches no hookspec fails here


# --- op handlers -----------------------------------------------------------------------------

HANDLERS = sorted(builtin_handlers().items())
HANDLER_MODULES = sorted({target.partition(":")[0] for _, target in HANDLERS})


@pytest.mark.parametrize(("kind", "target"), HANDLERS)
def test_every_op_kind_points_to_an_importable_function(kind: str, target: str) -> None:
    module_name, sep, function = target.partition(":")
    assert sep and module_name and function, f"{kind}: {target!r} is not 'module:function'"
    handler = getattr(importlib.import_module(module_name), function)
    assert callable(handler)
    assert len(inspect.signature(handler).parameters) == 2, f"{target}(ctx, args)"


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_handler_modules_import_nothing_heavy(module: str) -> None:
    assert imported_heavy_modules(module) == []


def test_the_container_init_imports_nothing_heavy() -> None:
    assert imported_heavy_modules("limpet.core.init") == []


def test_loading_the_builtin_plugins_imports_no_handler_module(tmp_path: Path) -> None:
    """The runtime process loads every plugin on create: the ops modules (run by the init or
    at prepare) and the standard library modules they alone need are imported later, where
    they run. The interpreter is started as the launcher starts it (-S)."""
    ops_modules = [m for m in HANDLER_MODULES if m.endswith(".ops")]
    assert len(ops_modules) >= 5
    avoided = [*ops_modules, "contextlib", "importlib", "resource", "termios", "site"]
    site_packages = str(Path(limpet.plugins.__file__).parents[2])
    code = (f"import sys; sys.path.append({site_packages!r}); import json; "
            "from limpet.core import plugins; from limpet.core.config import DefaultConfig; "
            f"plugins.load(DefaultConfig(), cache_dir={str(tmp_path)!r}); "
            f"print(json.dumps([m for m in {avoided!r} if m in sys.modules]))")
    outputs = [subprocess.run([sys.executable, "-S", "-c", code], capture_output=True,
                              text=True, check=True, timeout=60).stdout for _ in range(2)]
    assert json.loads(outputs[1]) == []   # the first run scanned and cached the entry points


@pytest.mark.parametrize("module", ["limpet.core.plan", "limpet.core.errors",
                                    "limpet.core.syscalls", "limpet.core.sync",
                                    "limpet.core.state", "limpet.core.paths",
                                    "limpet.core.lifecycle"])
def test_lean_core_modules_import_nothing_heavy(module: str) -> None:
    assert imported_heavy_modules(module) == []


# --------------------------------------------------------------------------------------------
# limpet's markers are pluggy's, and loading checks what pluggy's register checks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"tryfirst": True}, {"specname": "limpet_plan"},
                                     {"wrapper": True, "optionalhook": True}])
def test_hookimpl_marks_as_pluggys_marker_does(options: dict[str, Any]) -> None:
    import pluggy
    from limpet.core.pluginapi import hookimpl

    def ours() -> None: ...
    def theirs() -> None: ...
    hookimpl(**options)(ours)
    pluggy.HookimplMarker("limpet")(theirs, **options)
    assert ours.limpet_impl == theirs.limpet_impl  # type: ignore[attr-defined]
    assert hookimpl(ours) is ours


def test_hookspecs_are_marked_as_pluggys_marker_does() -> None:
    import pluggy

    def theirs() -> None: ...
    pluggy.HookspecMarker("limpet")(theirs, firstresult=True)
    assert hookspecs.limpet_declare.limpet_spec == theirs.limpet_spec  # type: ignore[attr-defined]


def test_loading_rejects_a_hook_asking_for_an_argument_its_spec_lacks() -> None:
    from limpet.core.errors import ConfigError
    from limpet.core.pluginapi import hookimpl

    module = types.ModuleType("bad_plugin")

    @hookimpl
    def limpet_plan(spec: Any, plan: Any, ctx: Any, bundle: Any) -> None: ...

    module.limpet_plan = limpet_plan  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        plugins.verify_hooks("bad", module)
    assert info.value.where == "plugin 'bad'"
    assert "limpet_plan() asks for bundle" in info.value.message
    import pluggy

    pm = pluggy.PluginManager("limpet")   # pluggy refuses it as well
    pm.add_hookspecs(hookspecs)
    with pytest.raises(pluggy.PluginValidationError):
        pm.register(module)


def test_pluggys_manager_is_built_only_when_a_hook_is_dispatched() -> None:
    loaded = plugins.load(RuntimeConfig())
    assert loaded.manager is None
    assert loaded.pm.get_plugin("cgroups") is loaded.loaded["cgroups"].module
    assert loaded.manager is loaded.pm
