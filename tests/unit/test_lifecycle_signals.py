"""Signal names without the signal module (kill is on the engines' hot path)."""

from __future__ import annotations

import signal

import pytest
from limpet.core import lifecycle
from limpet.core.errors import UsageError


def test_the_table_matches_the_signal_module() -> None:
    for name, number in lifecycle.SIGNALS.items():
        if hasattr(signal, name):
            assert int(getattr(signal, name)) == number, name


@pytest.mark.parametrize(("text", "number"), [("KILL", 9), ("sigterm", 15), ("SIGUSR1", 10),
                                              ("9", 9), ("15", 15), ("SIGRTMIN", 34),
                                              ("WINCH", 28)])
def test_names_and_numbers(text: str, number: int) -> None:
    assert lifecycle._signal_number(text) == number


@pytest.mark.parametrize("text", ["0", "65", "NOPE", "SIGFOO", "-1"])
def test_bad_signals_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        lifecycle._signal_number(text)
