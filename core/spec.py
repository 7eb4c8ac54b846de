"""The OCI runtime-spec 1.3 documents (config.json, state, features): models and loading.

What plugins receive: a validated :class:`Spec` tree whose attributes are the spec's fields
in snake_case (``spec.linux.cgroups_path``), ``None`` when absent.

* the ``required`` lists of the schema are mirrored exactly, every other property is optional
  (an explicit JSON ``null`` is read as "absent", like Go runtimes do);
* value types are strict: ``"1"`` is not an integer and ``1`` is not a boolean;
* enumerations, patterns and the integer ranges of ``defs.json`` (``uint32``, ``int64``, ...)
  are enforced, with messages that name the offending value;
* unknown properties are ignored as config.md#extensibility requires, but kept on
  ``model_extra`` so that :func:`unknown_fields` can list and log them.

The model classes and their field tables (:mod:`.spectable`) are generated from the pydantic
reference models of :mod:`.specmodels`, and checked by :mod:`.specbase`'s walker: the same
result and the same errors, without importing pydantic on every ``create``.

Public API: :func:`load_config`, :func:`load_state`, :func:`load_features`, :func:`namespace`,
:class:`Spec`,
:class:`State`, :class:`Features` (and every other model class), :func:`unknown_fields`,
:func:`dump`, :func:`fields`.
"""

from __future__ import annotations

from . import jsonlite
from .log import log
from .specbase import Node, dump, fields, model_in, spec_error, unknown_fields
from .spectable import *  # noqa: F403  (the model classes, listed in spectable.__all__)
from .spectable import Features, Spec, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _N = TypeVar("_N", bound=Node)

__all__ = [
    "Features",
    "Node",
    "Spec",
    "State",
    "dump",
    "fields",
    "load_config",
    "load_features",
    "load_state",
    "model_in",
    "namespace",
    "unknown_fields",
]


def decode(source: str | bytes, origin: str) -> Any:
    """Parse JSON text; a SpecError names the line and column of a syntax error."""
    try:
        return jsonlite.loads(source)
    except (ValueError, UnicodeDecodeError):
        pass
    import json  # only to describe the error the way json does

    try:
        json.loads(source, parse_constant=jsonlite._no_constant)
    except json.JSONDecodeError as exc:
        raise spec_error([(None, f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                 f"{exc.msg}")], origin) from None
    except (ValueError, UnicodeDecodeError) as exc:  # NaN/Infinity, bad UTF-8
        raise spec_error([(None, f"invalid JSON: {exc}")], origin) from None
    raise spec_error([(None, "invalid JSON")], origin)


def _load(model: type[_N], source: str | bytes | dict[str, Any], origin: str) -> _N:
    data = decode(source, origin) if isinstance(source, str | bytes | bytearray) else source
    node: _N = model.model_validate(data, origin)
    return node


def load_config(source: str | bytes | dict[str, Any], *, origin: str = "config.json") -> Spec:
    """Parse and validate a config.json (text, bytes or an already decoded object).

    Raises :class:`SpecError` naming the JSON path of the first bad field (all of them are on
    its ``errors`` attribute as ``(path, message)`` pairs). Unknown properties are kept, and
    logged (config.md#extensibility: they MUST be ignored). A decoded object is not copied:
    the tree shares its unknown properties and plain-object sections.
    """
    spec = _load(Spec, source, origin)
    extra = unknown_fields(spec)
    if extra:
        log.debug(f"{origin}: ignoring unknown properties: {', '.join(extra)}")
    return spec


def load_state(source: str | bytes | dict[str, Any], *, origin: str = "state.json") -> State:
    """Parse and validate a runtime state document (runtime.md#state)."""
    return _load(State, source, origin)


def namespace(spec: Spec, kind: str) -> Any:
    """The ``linux.namespaces`` entry of type ``kind`` (config-linux.md#namespaces), or
    None: its ``path`` says whether it is joined (set) or new (None)."""
    if spec.linux is None:
        return None
    return next((ns for ns in spec.linux.namespaces or [] if ns.type == kind), None)


def load_features(
    source: str | bytes | dict[str, Any], *, origin: str = "features.json"
) -> Features:
    """Parse and validate a features document (features.md)."""
    return _load(Features, source, origin)
