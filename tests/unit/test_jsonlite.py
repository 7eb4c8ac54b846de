"""limpet.core.jsonlite reads and writes what json does (it replaces json on lean paths)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from limpet.core import jsonlite

DOCUMENTS: list[Any] = [
    {"ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 4242,
     "annotations": {"a": "b", "ü": "☃"}, "bundle": "/tmp/b", "facts": {}, "hooks": [],
     "teardown": [{"kind": "cgroup-remove", "args": {"remove": ["/sys/fs/cgroup/x"]}}]},
    [], {}, [1, 2.5, -3, 1e100, True, False, None, "x\n\"y\"\t\\"], "plain", 0, None,
    {"nested": {"deeper": [[], {}, [{"k": [1]}]]}}, 2**64 - 1, -0.0,
]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_dumps_and_loads_match_json(doc: Any) -> None:
    assert jsonlite.dumps(doc) == json.dumps(doc)
    assert jsonlite.dumps(doc, compact=True) == json.dumps(doc, separators=(",", ":"))
    assert jsonlite.dumps(doc, indent=2) == json.dumps(doc, indent=2)
    text = json.dumps(doc, indent=1)
    assert jsonlite.loads(text) == json.loads(text)
    assert jsonlite.loads(f"  {text}\n".encode()) == doc


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', "[1,]", "NaN", "[Infinity]",
                                  "{'a': 1}", '"\x01"'])
def test_invalid_documents_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError):
        jsonlite.loads(text)


def test_unserialisable_values_are_type_errors() -> None:
    with pytest.raises(TypeError):
        jsonlite.dumps({"x": object()})
    with pytest.raises(TypeError):
        jsonlite.dumps({"x": object()}, indent=2)


def test_a_syntax_error_is_a_value_error_even_before_json_is_imported() -> None:
    import subprocess
    import sys

    code = ("import sys; from limpet.core import jsonlite\n"
            "assert 'json.decoder' not in sys.modules\n"
            "try:\n    jsonlite.loads('{\"a\": 1,')\n"
            "except ValueError as exc:\n    print('ValueError', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("ValueError Expecting property name enclosed in double quotes")
