"""linux.memoryPolicy (config-linux.md#memory-policy): the NUMA memory policy.

set_mempolicy(2) of the container process in the ``process`` phase; the policy is
inherited across fork and kept across execve. Checked first like the kernel does: ``mode``
is required; MPOL_DEFAULT and MPOL_LOCAL take no nodes, MPOL_BIND, MPOL_INTERLEAVE,
MPOL_WEIGHTED_INTERLEAVE and MPOL_PREFERRED_MANY need some; MPOL_F_STATIC_NODES and
MPOL_F_RELATIVE_NODES exclude each other and need nodes; without them, at least one of the
nodes must be online on this host.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import os

from limpet.core.errors import ExecutionError, SpecError
from limpet.core.syscalls import const

from .affinity import MAX_NODES, parse_list
from .names import MEMORY_POLICY_MODES as MODES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WHERE = "linux.memoryPolicy"
NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
              "MPOL_PREFERRED_MANY")
ONLINE = "/sys/devices/system/node/online"


def online_nodes(path: str) -> list[int] | None:
    try:
        with open(path) as f:
            return parse_list(f.read().strip(), path, "node", MAX_NODES)
    except (OSError, SpecError):
        return None


def validate(spec: Any, online_path: str | None = None) -> None:
    policy = spec.linux.memory_policy if spec.linux else None
    if policy is None:
        return
    mode = policy.mode
    if mode is None:
        raise SpecError(f"{WHERE}.mode", "required: " + ", ".join(MODES))
    nodes = parse_list(policy.nodes or "", f"{WHERE}.nodes", "node", MAX_NODES)
    flags = list(policy.flags or [])
    if mode in NO_NODES and nodes:
        raise SpecError(f"{WHERE}.nodes", f"{mode} takes no nodes")
    if mode in NEED_NODES and not nodes:
        raise SpecError(f"{WHERE}.nodes", f"{mode} needs at least one node")
    if "MPOL_F_STATIC_NODES" in flags and "MPOL_F_RELATIVE_NODES" in flags:
        raise SpecError(f"{WHERE}.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES "
                        "exclude each other")
    relative = {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"} & set(flags)
    if relative and not nodes:
        raise SpecError(f"{WHERE}.flags", f"{sorted(relative)[0]} needs nodes")
    if nodes and not relative:
        online = online_nodes(online_path or ONLINE)
        if online is not None and not set(nodes) & set(online):
            raise SpecError(f"{WHERE}.nodes", f"none of the nodes {policy.nodes!r} is online "
                            f"on this host (online: {', '.join(map(str, online))})")


def plan(spec: Any, plan: Any) -> None:
    policy = spec.linux.memory_policy if spec.linux else None
    if policy is not None:
        plan.add("process", "set-memory-policy", WHERE, mode=policy.mode,
                 nodes=parse_list(policy.nodes or "", f"{WHERE}.nodes", "node", MAX_NODES),
                 flags=list(policy.flags or []))


def set_memory_policy(ctx: Any, args: dict[str, Any]) -> None:
    mode = MODES[args["mode"]]
    for flag in args.get("flags") or []:
        mode |= const(flag)
    try:
        ctx.sys.set_mempolicy(mode, list(args.get("nodes") or []))
    except OSError as exc:
        what = "|".join([args["mode"], *(args.get("flags") or [])])
        reason = os.strerror(exc.errno or 0)
        raise ExecutionError(WHERE, f"set_mempolicy {what} nodes {args.get('nodes') or []}: "
                             f"{reason}", errno=exc.errno) from None
