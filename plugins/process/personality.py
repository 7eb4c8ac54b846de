"""linux.personality (config-linux.md#personality): the execution domain.

``LINUX`` or ``LINUX32`` (uname(2) then reports a 32-bit machine such as ``i686``); the spec
supports no flag yet, so any flag is refused. Set with personality(2) as the init's last
step before the program is resolved (as runc does, just before exec); the persona is kept
across execve.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

from limpet.core.errors import SpecError
from limpet.core.syscalls import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.personality"
DOMAINS = {"LINUX": "PER_LINUX", "LINUX32": "PER_LINUX32"}


def validate(spec: Any) -> None:
    persona = spec.linux.personality if spec.linux else None
    if persona is None:
        return
    if persona.domain is None:
        raise SpecError(f"{WHERE}.domain", "required: LINUX or LINUX32")
    for i, flag in enumerate(persona.flags or []):
        raise SpecError(f"{WHERE}.flags[{i}]", f"unknown personality flag {flag!r} (the "
                        "runtime-spec supports none yet)")


def plan(spec: Any, plan: Any) -> None:
    persona = spec.linux.personality if spec.linux else None
    if persona is not None:
        plan.add("credentials", "set-personality", WHERE, domain=persona.domain)


def set_personality(ctx: Any, args: dict[str, Any]) -> None:
    ctx.sys.personality(const(DOMAINS[args["domain"]]))
