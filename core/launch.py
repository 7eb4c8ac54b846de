"""The ``limpet`` command's entry point: serve limpet's modules from the code cache
(:mod:`.codecache`, when the install built one), then run the CLI."""

from __future__ import annotations

import gc
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

#: A verb allocates tens of thousands of objects while it imports, nearly none of them
#: garbage: at the default threshold (700) ``create`` ran ~40 collections for nothing
#: (~1-2 ms). Long-running verbs (``events``, a foreground ``run``) still collect.
GC_THRESHOLD = (100_000, 20, 20)
#: ``time.perf_counter()`` when the command started: LIMPET_TRACE's timeline (core/trace.py).
STARTED = 0.0


def run() -> NoReturn:
    """``limpet``: :func:`limpet.core.cli.run` with the code cache installed first."""
    global STARTED
    STARTED = time.perf_counter()
    gc.set_threshold(*GC_THRESHOLD)
    from .codecache import install

    install()
    from .cli import run as run_cli

    run_cli()
