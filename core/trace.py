"""LIMPET_TRACE=1: print where the time goes (each hook of each plugin, each step of
create) to stderr, as ``limpet-trace: LABEL 1.23 ms``. Off, it costs one env lookup (and
no contextlib: a plain class is the context manager)."""

from __future__ import annotations

import os
import sys
import time

ENABLED = bool(os.environ.get("LIMPET_TRACE"))


class span:  # noqa: N801  (used as a function: ``with span("load plugins"):``)
    """Time the ``with`` block under ``label`` (when tracing)."""

    __slots__ = ("label", "start")

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = 0.0

    def __enter__(self) -> None:
        if ENABLED:
            self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if ENABLED:
            elapsed = (time.perf_counter() - self.start) * 1000
            print(f"limpet-trace: {self.label} {elapsed:.2f} ms", file=sys.stderr)
