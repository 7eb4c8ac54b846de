"""JSON for the lean verbs and the container's init, without ``import json``.

The json package's decoder and encoder import re (and with it enum, functools, ...): about
8 ms of every runtime exec and a few hundred KiB in every waiting init. The parsing and
encoding themselves are done by the C accelerators json uses, ``_json``; this module only
adds what json.loads/json.dumps add around them (surrounding whitespace, indentation).
tests/unit/test_jsonlite.py checks the results equal json's.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Context:
    """The attributes ``_json.make_scanner`` reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constant)
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _unserialisable, _json.encode_basestring_ascii, None,
                             ": ", ", ", False, False, True)
_encode_compact = _json.make_encoder(None, _unserialisable, _json.encode_basestring_ascii,
                                     None, ":", ",", False, False, True)
_encode_sorted = _json.make_encoder(None, _unserialisable, _json.encode_basestring_ascii, None,
                                    ": ", ", ", True, False, True)


def loads(text: str | bytes) -> Any:
    """Parse a JSON document (ValueError if it is not one; NaN/Infinity are refused)."""
    if isinstance(text, bytes | bytearray):
        text = text.decode()
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    except SystemError:
        # _json raises its syntax errors as json.decoder.JSONDecodeError, taken from
        # sys.modules: unless json.decoder is imported it fails with a SystemError instead.
        import json.decoder  # noqa: F401  (only for a document that is not JSON)

        value, end = _scan(text, start)   # now raises JSONDecodeError, a ValueError
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


def dumps(value: Any, indent: int | None = None, compact: bool = False,
          sort_keys: bool = False) -> str:
    """Like json.dumps (ensure_ascii): one line, or ``indent`` spaces per level;
    ``compact``: no spaces after ``,`` and ``:``; ``sort_keys`` (one line only)."""
    if sort_keys:
        return "".join(_encode_sorted(value, 0))
    if indent is None:
        return "".join((_encode_compact if compact else _encode)(value, 0))
    return _pretty(value, indent, 0)


def _pretty(value: Any, indent: int, level: int) -> str:
    inner = " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        items = ",\n".join(f"{inner}{_json.encode_basestring_ascii(k)}: "
                           f"{_pretty(v, indent, level + 1)}" for k, v in value.items())
        return "{\n" + items + "\n" + " " * (indent * level) + "}"
    if isinstance(value, list | tuple) and value:
        items = ",\n".join(inner + _pretty(v, indent, level + 1) for v in value)
        return "[\n" + items + "\n" + " " * (indent * level) + "]"
    return "".join(_encode(value, 0))

