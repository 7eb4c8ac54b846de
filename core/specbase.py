"""The validator behind :mod:`limpet.core.spec`: plain model classes and a table walker.

Each model class (generated into :mod:`.spectable` from the pydantic reference models of
:mod:`.specmodels`) lists its fields as ``(python name, JSON name, required, check)``; a
check is a small tuple this module interprets:

* ``("str",)``, ``("bool",)``, ``("any",)``: strict JSON types (``1`` is not a boolean, ``"1"``
  is not an integer);
* ``("int", low, high, kind)``: an integer in ``[low, high]`` (``None``: unbounded);
* ``("enum", noun, allowed, expected)`` and ``("pattern", noun, regex, hint, runs)``:
  strings (``runs``: the regex as greedy character runs, see :func:`matches`);
* ``("list", item, min_length)``, ``("dict", value)``: arrays and string-keyed objects;
* ``("model", cls)``: a nested object.

Every error of a document is collected as ``(JSON path, message)``, in the order pydantic
reports them and with the same words (tests/unit/test_spec.py compares the two on the
spec's examples and on thousands of damaged configs). Explicit ``null`` is read as
"absent" for optional fields; unknown properties are kept on ``model_extra``.

Lean: this module imports nothing but :mod:`.jsonlite` (not even re, ~7 ms), so validating
a config.json costs about a millisecond instead of pydantic's ~150 ms of imports and model
building.
"""

from __future__ import annotations

from . import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, ClassVar

    Loc = tuple[Any, str | int] | None

_MISSING = object()


class Node:
    """A validated spec object: one attribute per field (``None`` when absent), unknown
    properties on ``model_extra``. Build one from JSON with :meth:`model_validate`, or by
    field name: ``Root(path="rootfs", readonly=True)`` (validated the same way)."""

    _fields: ClassVar[tuple[tuple[str, str, bool, tuple[Any, ...]], ...]] = ()
    _aliases: ClassVar[dict[str, str]] = {}
    model_extra: dict[str, Any]

    def __init_subclass__(cls) -> None:
        cls._aliases = {name: alias for name, alias, _, _ in cls._fields}

    def __init__(self, **values: Any) -> None:
        data: dict[str, Any] = {}
        for name, value in values.items():
            alias = self._aliases.get(name)
            if alias is None:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            data[alias] = value
        errors: list[tuple[Loc, str]] = []
        _fill(self, data, None, errors)
        if errors:
            raise spec_error(errors, type(self).__name__)

    @classmethod
    def model_validate(cls, data: Any, origin: str | None = None) -> Any:
        """Validate a decoded JSON value; :class:`SpecError` names the first bad path."""
        errors: list[tuple[Loc, str]] = []
        node = _model(cls, data, None, errors)
        if errors:
            raise spec_error(errors, origin or cls.__name__)
        return node

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _, _ in self._fields
                          if getattr(self, name) is not None)
        return f"{type(self).__name__}({shown})"


# --------------------------------------------------------------------------------------------
# Walking a document
# --------------------------------------------------------------------------------------------

def _fill(node: Node, data: dict[str, Any], loc: Loc, errors: list[tuple[Loc, str]]) -> None:
    attrs = node.__dict__
    found = 0
    for name, alias, required, check in node._fields:
        value = data.get(alias, _MISSING)
        if value is _MISSING:
            if required:
                errors.append(((loc, alias), "missing required property"))
            attrs[name] = None
            continue
        found += 1
        if value is None and not required:
            attrs[name] = None
        else:
            attrs[name] = _CHECKS[check[0]](check, value, (loc, alias), errors)
    if found == len(data):
        attrs["model_extra"] = {}
    else:
        known = node._aliases.values()
        attrs["model_extra"] = {k: v for k, v in data.items() if k not in known}


def _model(cls: type[Node], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if isinstance(value, cls):
        return value    # built in Python already (validated then)
    if type(value) is not dict:
        return _wrong(errors, loc, "an object", value)
    node = cls.__new__(cls)
    _fill(node, value, loc, errors)
    return node


def _wrong(errors: list[tuple[Loc, str]], loc: Loc, expected: str, value: Any) -> None:
    errors.append((loc, f"expected {expected}, got {describe(value)}"))


def _str(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is str:
        return value
    return _wrong(errors, loc, "a string", value)


def _bool(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if value is True or value is False:
        return value
    return _wrong(errors, loc, "a boolean", value)


def _any(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    return value


def _int(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is not int:
        return _wrong(errors, loc, "an integer", value)
    _, low, high, kind = check
    if (low is not None and value < low) or (high is not None and value > high):
        errors.append((loc, f"expected {kind}, got {value}"))
    return value


def _enum(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is not str:
        return _wrong(errors, loc, "a string", value)
    _, noun, allowed, expected = check
    if value not in allowed:
        errors.append((loc, f"unknown {noun} {jsonlite.dumps(value)}; expected one of "
                            f"{expected}"))
    return value


def _pattern(check: tuple[Any, ...], value: Any, loc: Loc,
             errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is not str:
        return _wrong(errors, loc, "a string", value)
    _, noun, _regex, hint, runs = check
    if not matches(runs, value):
        errors.append((loc, f"invalid {noun} {jsonlite.dumps(value)}: {hint}"))
    return value


def matches(runs: tuple[tuple[str, bool, int, int | None], ...], value: str) -> bool:
    """Whether ``value`` is exactly the runs of a pattern (see specgen.segments): each run
    takes as many characters of its set as it may, greedily, then the next one starts."""
    at, end = 0, len(value)
    for chars, negated, least, most in runs:
        count = 0
        while at < end and (most is None or count < most) and (value[at] in chars) != negated:
            at += 1
            count += 1
        if count < least:
            return False
    return at == end


def _list(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is not list:
        return _wrong(errors, loc, "an array", value)
    _, item, min_length = check
    if len(value) < min_length:
        items = "item" if min_length == 1 else "items"
        errors.append((loc, f"expected at least {min_length} {items}, got {len(value)}"))
        return value
    validate = _CHECKS[item[0]]
    return [validate(item, v, (loc, i), errors) for i, v in enumerate(value)]


def _dict(check: tuple[Any, ...], value: Any, loc: Loc, errors: list[tuple[Loc, str]]) -> Any:
    if type(value) is not dict:
        return _wrong(errors, loc, "an object", value)
    item = check[1]
    if item[0] == "any":
        return value
    validate = _CHECKS[item[0]]
    return {k: validate(item, v, (loc, k), errors) for k, v in value.items()}


def _nested(check: tuple[Any, ...], value: Any, loc: Loc,
            errors: list[tuple[Loc, str]]) -> Any:
    return _model(check[1], value, loc, errors)


_CHECKS = {"str": _str, "bool": _bool, "any": _any, "int": _int, "enum": _enum,
           "pattern": _pattern, "list": _list, "dict": _dict, "model": _nested}


# --------------------------------------------------------------------------------------------
# Paths and messages
# --------------------------------------------------------------------------------------------

def _plain(key: str) -> bool:
    """A key written ``a.key`` rather than ``a["key"]``: ``[A-Za-z_][A-Za-z0-9_-]*``."""
    if not key or not key.isascii() or not (key[0].isalpha() or key[0] == "_"):
        return False
    return all(c.isalnum() or c in "_-" for c in key)


def join(path: str, key: str | int) -> str:
    """Append one step to a dotted JSON path: ``a.b``, ``a[2]``, ``a["net.ipv4.ip_forward"]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _plain(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{jsonlite.dumps(key)}]"


def _format(loc: Loc) -> str:
    steps: list[str | int] = []
    while loc is not None:
        loc, key = loc
        steps.append(key)
    path = ""
    for step in reversed(steps):
        path = join(path, step)
    return path


def describe(value: Any) -> str:
    """Name a JSON value for a message: ``string "1"``, ``integer 5``, ``boolean true``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {jsonlite.dumps(value)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        text = jsonlite.dumps(value)
        if len(text) > 60:
            text = text[:56] + '..."'
        return f"string {text}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def spec_error(errors: list[tuple[Loc, str]], origin: str) -> Exception:
    """One SpecError for the first problem (``origin`` when it is about the whole document);
    all of them on its ``errors`` attribute as ``(path, message)`` pairs."""
    return errors_at([(_format(loc) or origin, message) for loc, message in errors])


def errors_at(found: list[tuple[str, str]]) -> Exception:
    """A SpecError for the first ``(path, message)``, all of them on ``errors``."""
    from .errors import SpecError

    where, message = found[0]
    if len(found) > 1:
        message = f"{message} (and {len(found) - 1} more)"
    err = SpecError(where, message)
    err.errors = found  # type: ignore[attr-defined]
    return err


# --------------------------------------------------------------------------------------------
# Reading a validated tree
# --------------------------------------------------------------------------------------------

def fields(node: Node | type[Node]) -> Iterator[tuple[str, str]]:
    """``(python name, JSON name)`` of each field of a model, in the spec's order."""
    for name, alias, _, _ in node._fields:
        yield name, alias


def model_in(node: type[Node], alias: str) -> type[Node] | None:
    """The model class of field ``alias`` (an object or an array of objects), if any."""
    for _, key, _, check in node._fields:
        if key == alias:
            while check[0] == "list":
                check = check[1]
            return check[1] if check[0] == "model" else None
    return None


def _plain_json(value: Any) -> Any:
    if isinstance(value, Node):
        return dump(value)
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items() if v is not None}
    return value


def dump(node: Node) -> dict[str, Any]:
    """Serialise to a JSON-ready dict by JSON name, leaving out ``None`` fields; unknown
    properties are written back (after the known ones), so ``dump(load_config(x)) == x`` for
    a valid config apart from key order and explicit ``null`` values."""
    out: dict[str, Any] = {}
    attrs = node.__dict__
    for name, alias, _, _ in node._fields:
        value = attrs[name]
        if value is not None:
            out[alias] = _plain_json(value)
    for key, value in attrs["model_extra"].items():
        if value is not None:
            out[key] = _plain_json(value)
    return out


def _walk(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, Node):
        attrs = value.__dict__
        for name, alias, _, _ in value._fields:
            child = attrs[name]
            if child is not None:
                yield from _walk(child, join(path, alias))
        for key in attrs["model_extra"]:
            yield join(path, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Node | list | dict):   # not the strings of args, env, ...
                yield from _walk(item, join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, Node | list | dict):
                yield from _walk(item, join(path, str(key)))


def unknown_fields(node: Node) -> list[str]:
    """Dotted JSON paths of every unknown (extra) property in the tree, e.g.
    ``linux.fooBar`` or ``mounts[2].weird``. Sections typed as plain objects (``solaris``,
    ``windows``, ``vm``, ``zos``) are recognised, so nothing inside them is reported."""
    return list(_walk(node, ""))
