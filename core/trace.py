"""LIMPET_TRACE=1: print where the time goes (each hook of each plugin, each step of
create, each phase on either side) to stderr, as ``limpet-trace: [+23.4] LABEL 1.23 ms``:
the step took 1.23 ms and ended 23.4 ms after the ``limpet`` command started running
Python (the init, forked from it, counts from the same start, so the lines of both
processes make one timeline). Off, it costs one env lookup (and no contextlib: a plain
class is the context manager)."""

from __future__ import annotations

import os
import sys
import time

ENABLED = bool(os.environ.get("LIMPET_TRACE"))
#: When the command started (core/launch.py records it; else when this was imported).
START: float = getattr(sys.modules.get("limpet.core.launch"), "STARTED", None) \
    or time.perf_counter()


def emit(label: str, started: float) -> None:
    """One trace line for a step that began at ``started`` (``time.perf_counter()``) and
    ends now."""
    now = time.perf_counter()
    print(f"limpet-trace: [+{(now - START) * 1000:.1f}] {label} {(now - started) * 1000:.2f} ms",
          file=sys.stderr)


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
            emit(self.label, self.start)
