"""One exception tree for limpet.

Every user-visible error names what it is about: a config path
(``linux.namespaces[2].type``), a CLI argument (``--bundle``) or a container id.
Errors raised in the container's init travel to the runtime process as JSON
(:meth:`LimpetError.to_wire` / :func:`from_wire`) and are shown there.

This module is imported by the lean init: it must only use the standard library.
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class LimpetError(Exception):
    """Base of every error limpet reports; ``where`` names the config path or argument."""

    kind = "error"
    exit_code = 1

    def __init__(self, where: str | None, message: str, *, errno: int | None = None,
                 hint: str | None = None) -> None:
        self.where = where
        self.message = message
        self.errno = errno
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        notes = getattr(self, "__notes__", None)
        if notes:
            text = "; ".join([text, *notes])
        return text

    def __str__(self) -> str:
        return self.render()

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "where": self.where,
            "message": self.message,
            "errno": self.errno,
            "hint": self.hint,
            "notes": list(getattr(self, "__notes__", []) or []),
        }


class SpecError(LimpetError):
    """config.json is invalid, or a field in it cannot be honoured (names the JSON path)."""


class ConfigError(LimpetError):
    """The runtime's own configuration file (config.yaml) or plugin set is invalid."""


class UsageError(LimpetError):
    """A bad command line argument."""

    exit_code = 2


class ContainerError(LimpetError):
    """A container does not exist, exists already, or is in the wrong state."""


class StateTransitionError(ContainerError):
    """An operation is not allowed in the container's current status."""

    def __init__(self, container_id: str, status: str, wanted: str) -> None:
        super().__init__(None, f"cannot {wanted} container {container_id!r} in status {status!r}")
        self.status = status


class ExecutionError(LimpetError):
    """A plan operation failed on the host or in the container's init."""


class ProgramNotFound(ExecutionError):
    """The user program is missing or not executable (runc wording; engines parse it)."""


_KINDS: dict[str, type[LimpetError]] = {
    cls.__name__: cls
    for cls in (LimpetError, SpecError, ConfigError, UsageError, ContainerError,
                ExecutionError, ProgramNotFound)
}


def from_wire(data: dict[str, Any]) -> LimpetError:
    """Rebuild an error sent by the init over the sync socket."""
    cls = _KINDS.get(str(data.get("kind")), ExecutionError)
    err = cls(data.get("where"), str(data.get("message", "unknown error")),
              errno=data.get("errno"), hint=data.get("hint"))
    for note in data.get("notes") or []:
        err.add_note(note)
    return err


def os_error(where: str | None, what: str, exc: OSError) -> ExecutionError:
    """Wrap an OSError from a native call, keeping errno and the paths involved."""
    err_no = exc.errno or 0
    reason = os.strerror(err_no) if err_no else str(exc)
    files = [f for f in (exc.filename, exc.filename2) if f]
    detail = f"{what} {' -> '.join(map(str, files))}".strip() if files else what
    name = _errno.errorcode.get(err_no, "")
    hint = None
    if err_no == _errno.EPERM and name:
        hint = "the kernel refused this operation (EPERM); check capabilities and namespaces"
    return ExecutionError(where, f"{detail}: {reason}", errno=err_no, hint=hint)
