"""runc-compatible logging: ``--log FILE`` and ``--log-format text|json``.

Engines read the last ``{"level":"error","msg":...}`` line of the JSON log and map words in
``msg`` to exit codes (engines.md). Without ``--log`` messages go to stderr.
Lean: standard library only.
"""

from __future__ import annotations

import os
import sys
import time

from . import jsonlite as json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Logger:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.threshold = LEVELS["debug"] if debug else LEVELS["warning"]
        self._stream: TextIO | None = None

    def _out(self) -> TextIO:
        if not self.path:
            return sys.stderr   # looked up each time: it may have been replaced
        if self._stream is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
            self._stream = os.fdopen(fd, "a", buffering=1)
        return self._stream

    def log(self, level: str, msg: str) -> None:
        if LEVELS[level] < self.threshold:
            return
        if self.fmt == "json":
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            line = json.dumps({"level": level, "msg": msg,
                               "time": f"{stamp}.{int(now % 1 * 1e9):09d}Z"})
        else:
            line = f"limpet: {level}: {msg}" if level != "error" else f"limpet: {msg}"
        self._out().write(line + "\n")
        self._out().flush()

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def warning(self, msg: str) -> None:
        self.log("warning", msg)

    def error(self, msg: str) -> None:
        self.log("error", msg)


#: The process-wide logger; the CLI replaces it according to the global flags.
log = Logger()


def configure(path: str | None, fmt: str, debug: bool) -> Logger:
    """Point the process-wide logger at the CLI's destination (in place: importers keep it)."""
    log.__init__(path, fmt, debug)  # type: ignore[misc]
    return log
