"""The ``limpet`` command's entry point: serve limpet's modules from the code cache
(:mod:`.codecache`, when the install built one), then run the CLI."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def run() -> NoReturn:
    """``limpet``: :func:`limpet.core.cli.run` with the code cache installed first."""
    from .codecache import install

    install()
    from .cli import run as run_cli

    run_cli()
