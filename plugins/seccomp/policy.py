"""The seccomp agent's policy: a YAML file saying how to answer each notified syscall.

Example::

    default: allow          # a notified syscall no rule matches: allow or deny
    errno: EPERM            # the errno of "deny" when a rule gives none
    rules:                  # first match wins
      - syscalls: [mkdir, mkdirat]
        action: deny
        errno: EACCES
      - syscalls: [kill]
        args: [{index: 1, op: eq, value: 0}]   # all conditions must hold
        action: deny
      - syscalls: [personality]
        args: [{index: 0, op: masked_eq, mask: 0xff, value: 8}]   # (arg & mask) == value
        action: allow

Conditions compare the raw 64-bit register value of an argument, unsigned, as seccomp
does. Pointer arguments are addresses in the container's memory: the agent never reads
what they point to (that memory can change between the check and the kernel's use).
"""

from __future__ import annotations

import errno as errno_module
from pathlib import Path
from typing import Any, Literal

from limpet.core.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

U64 = 2**64 - 1
Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"]


def parse_errno(value: Any) -> int:
    """An errno by name (``EPERM``) or number (1-4095)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an errno")
    if isinstance(value, int):
        if not 0 < value <= 4095:
            raise ValueError(f"{value} is not an errno (1-4095)")
        return value
    if isinstance(value, str) and value.isupper() and hasattr(errno_module, value):
        return int(getattr(errno_module, value))
    raise ValueError(f"unknown errno {value!r} (use a name such as EPERM, or a number)")


class ArgCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, le=5, description="argument number, 0-5")
    op: Op
    value: int = Field(ge=0, le=U64)
    mask: int | None = Field(default=None, ge=0, le=U64,
                             description="masked_eq only: (arg & mask) == value")

    @model_validator(mode="after")
    def _mask(self) -> ArgCondition:
        if (self.op == "masked_eq") != (self.mask is not None):
            raise ValueError("mask is required with op masked_eq, and only with it")
        return self

    def matches(self, args: tuple[int, ...]) -> bool:
        arg = args[self.index]
        if self.op == "masked_eq":
            return arg & (self.mask or 0) == self.value
        return {"eq": arg == self.value, "ne": arg != self.value, "lt": arg < self.value,
                "le": arg <= self.value, "gt": arg > self.value,
                "ge": arg >= self.value}[self.op]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    syscalls: list[str] = Field(min_length=1)
    args: list[ArgCondition] = Field(default_factory=list)
    action: Literal["allow", "deny"]
    errno: int | None = None

    @field_validator("errno", mode="before")
    @classmethod
    def _errno(cls, value: Any) -> int | None:
        return None if value is None else parse_errno(value)

    @model_validator(mode="after")
    def _errno_for_deny(self) -> Rule:
        if self.action == "allow" and self.errno is not None:
            raise ValueError("errno is only for action deny")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Literal["allow", "deny"] = "allow"
    errno: int = errno_module.EPERM
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("errno", mode="before")
    @classmethod
    def _errno(cls, value: Any) -> int:
        return parse_errno(value)

    def decide(self, syscall: str, args: tuple[int, ...]) -> tuple[str, int, int | None]:
        """(action, errno for deny or 0, index of the matching rule or None)."""
        for i, rule in enumerate(self.rules):
            if syscall in rule.syscalls and all(c.matches(args) for c in rule.args):
                if rule.action == "allow":
                    return "allow", 0, i
                return "deny", rule.errno or self.errno, i
        return (self.default, 0 if self.default == "allow" else self.errno, None)


def load_policy(path: str) -> Policy:
    """Read and validate a policy file; errors name the file, the line and the key."""
    from limpet.core import config

    if not Path(path).is_file():
        raise ConfigError("--policy", f"{path}: no such file")
    doc = config.load_document(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(path, "the top level must be a mapping")
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        error = config.config_error(exc, doc, path, prefix=())
        error.message = error.message.replace("Value error, ", "")
        raise error from None
