"""What a plugin author imports: the hook marker and the declaration records.

A plugin is a module registered in the ``limpet.plugins`` entry-point group, e.g.::

    [project.entry-points."limpet.plugins"]
    my-isolation = "my_package.plugin"

whose hook implementations are marked with :data:`hookimpl`. Keep the module's op handlers
in a separate, lean module: they run inside the container's init.
"""

from __future__ import annotations

from .record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: What pluggy's markers set on a hook implementation (``limpet_impl``) and specification
#: (``limpet_spec``), and their defaults.
IMPL_OPTIONS: dict[str, Any] = {"wrapper": False, "hookwrapper": False, "optionalhook": False,
                                "tryfirst": False, "trylast": False, "specname": None}
SPEC_OPTIONS: dict[str, Any] = {"firstresult": False, "historic": False, "warn_on_impl": None,
                                "warn_on_impl_args": None}


def hookimpl(function: Any = None, **options: Any) -> Any:
    """Mark a hook implementation, exactly as ``pluggy.HookimplMarker("limpet")`` does: the
    same ``limpet_impl`` attribute, which pluggy's ``PluginManager.register`` reads. Written
    out so that loading a plugin imports no pluggy (with the typing and inspect it needs,
    ~15 ms of every ``create``): the core calls the plan hooks itself, and builds pluggy's
    manager only to dispatch a lifecycle hook (:attr:`limpet.core.plugins.Plugins.pm`)."""
    return _marker("limpet_impl", IMPL_OPTIONS, function, options)


def hookspec(function: Any = None, **options: Any) -> Any:
    """Mark a hook specification, as ``pluggy.HookspecMarker("limpet")`` does."""
    return _marker("limpet_spec", SPEC_OPTIONS, function, options)


def _marker(attribute: str, defaults: dict[str, Any], function: Any,
            options: dict[str, Any]) -> Any:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unknown hook marker option(s): {', '.join(unknown)}")
    settings = {**defaults, **options}

    def mark(func: Any) -> Any:
        setattr(func, attribute, settings)
        return func

    return mark if function is None else mark(function)

#: Bumped when a hook's signature changes incompatibly.
API_VERSION = 1


class PluginInfo(Record):
    """A plugin's declaration (``limpet_declare``).

    ``claims`` are the config.json paths the plugin applies (``"linux.namespaces"``,
    ``"process.user"``); a present field that no enabled plugin claims fails ``create``.
    ``features`` is this plugin's fragment of the features document (runtime-spec
    features.md), merged by the core; or the ``"module:function"`` that returns it, called
    only by ``limpet features`` (for a fragment that probes the host). ``options`` is a
    pydantic model (extra="forbid") of the plugin's section in config.yaml, or the
    ``"module:Class"`` naming one (imported only when config.yaml sets the section); when the
    section is absent, ``ctx.options_for`` builds the model's defaults and
    ``ctx.options_set`` gives ``None``. ``default_enabled=False`` makes the plugin opt-in
    (``plugins.enable`` in config.yaml).
    """

    name: str
    version: str
    claims: tuple[str, ...] = ()
    features: dict[str, Any] | str = field(default_factory=dict)
    options: Any = None   # a pydantic model class, or "module:Class"
    default_enabled: bool = True
    description: str = ""

    def features_fragment(self) -> dict[str, Any]:
        """``features``, from the function it names if it is a ``"module:function"``."""
        if isinstance(self.features, str):
            from .entrypoints import resolve

            fragment: dict[str, Any] = resolve(self.features)()
            return fragment
        return self.features


class Backend(Record):
    """A swappable implementation of one area (e.g. area "cgroups", name "v2").

    ``unavailable``: why this backend cannot be used here (not implemented, missing host
    support); choosing it in config.yaml is then an error quoting the reason.
    """

    area: str
    name: str
    factory: Any
    description: str = ""
    unavailable: str | None = None
