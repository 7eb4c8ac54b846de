"""The container's session keyring (runc's ``--no-new-keyring``; not a config.json field).

As runc does, the container process does not inherit the caller's session keyring (which
may hold the host user's keys): it joins a keyring of its own, ``_ses.ID``, made
searchable by its owner (or by "other" in a user namespace, whose root is not the owner
the kernel sees), in the ``process`` phase. ``exec`` joins the same keyring. With
``create --no-new-keyring`` nothing is done, and the caller's keyring is inherited.
A kernel without keyrings (ENOSYS) is no error, as in runc.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import errno

from limpet.core.errors import ExecutionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "--no-new-keyring"
FACT = "sessionKeyring"
#: KEY_USR_SEARCH and KEY_OTH_SEARCH (linux/key.h)
USER_SEARCH, OTHER_SEARCH = 0x00080000, 0x00000008


def plan(spec: Any, plan: Any, ctx: Any) -> None:
    """create: join ``_ses.ID``, and record it for ``exec``."""
    if ctx.no_new_keyring:
        return
    from limpet.core.spec import namespace  # runtime side; this module is also the init's

    name = f"_ses.{ctx.container_id}"
    user_namespace = namespace(spec, "user") is not None
    plan.add("prepare", "record-session-keyring", WHERE, name=name)
    plan.add("process", "join-session-keyring", WHERE, name=name,
             search=OTHER_SEARCH if user_namespace else USER_SEARCH)


def plan_exec(spec: Any, plan: Any, ctx: Any) -> None:
    """exec: join the keyring create made, if it made one."""
    name = ctx.facts.get(FACT)
    if name:
        plan.add("process", "join-session-keyring", WHERE, name=name, search=0)


def record(pctx: Any, args: dict[str, Any]) -> None:
    """Runtime side: remember the keyring in state.json's facts."""
    pctx.facts[FACT] = args["name"]


def join(ctx: Any, args: dict[str, Any]) -> None:
    """Container side: join (or create) the keyring; add the search permission."""
    name = args["name"]
    try:
        key = ctx.sys.join_session_keyring(name)
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return
        hint = ("the container's user has no key quota left (kernel.keys.maxkeys and "
                "maxbytes; root_maxkeys for root)" if exc.errno == errno.EDQUOT else
                "create --no-new-keyring keeps the caller's session keyring instead")
        raise ExecutionError(WHERE, f"joining the session keyring {name}: {exc.strerror}",
                             errno=exc.errno, hint=hint) from None
    if args.get("search"):
        perm = int(ctx.sys.keyctl_describe(key).split(";")[3], 16)
        ctx.sys.keyctl_setperm(key, perm | args["search"])
