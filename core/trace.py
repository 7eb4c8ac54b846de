"""LIMPET_TRACE=1: print where the time goes (each hook of each plugin, each step of
create) to stderr, as ``limpet-trace: LABEL 1.23 ms``. Off, it costs one env lookup."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENABLED = bool(os.environ.get("LIMPET_TRACE"))


@contextmanager
def span(label: str) -> Iterator[None]:
    if not ENABLED:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = (time.perf_counter() - start) * 1000
        print(f"limpet-trace: {label} {elapsed:.2f} ms", file=sys.stderr)
