"""Claims: every spec field present in config.json must be applied by an enabled plugin.

runtime-spec config.md: a runtime MUST generate an error when it cannot apply a recognised
property. Properties the spec does not define are ignored (they are logged elsewhere);
a field whose value asks for nothing (``false``, ``null``, ``[]``, ``{}``) needs no owner.
"""

from __future__ import annotations

from .errors import SpecError
from .specbase import model_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .specbase import Node

#: Fields the core itself applies or that carry no behaviour on Linux.
CORE_CLAIMS = ("ociVersion", "annotations")
#: Other platforms' sections: recognised, not applicable on Linux (runc ignores them too).
OTHER_PLATFORMS = ("solaris", "windows", "vm", "zos", "freebsd")


def _empty(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {}


def unclaimed(model: type[Node], raw: dict[str, Any], claims: set[str],
              prefix: str = "") -> list[str]:
    """Paths of fields present in ``raw`` that the spec defines and no claim covers."""
    known = set(model._aliases.values())
    missing: list[str] = []
    for key, value in raw.items():
        if key not in known or _empty(value):
            continue  # unknown properties are ignored (and logged by the loader)
        path = f"{prefix}{key}"
        if path in claims or (not prefix and key in OTHER_PLATFORMS):
            continue
        inner = model_in(model, key)
        has_sub_claims = any(c.startswith(path + ".") for c in claims)
        if inner is not None and has_sub_claims:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    for sub in unclaimed(inner, item, claims, path + "."):
                        if sub not in missing:
                            missing.append(sub)
            continue
        missing.append(path)
    return missing


def check(model: type[Node], raw: dict[str, Any], plugin_claims: dict[str, str]) -> None:
    """Raise SpecError for the first present field no enabled plugin handles."""
    claims = set(plugin_claims) | set(CORE_CLAIMS)
    missing = unclaimed(model, raw, claims)
    if missing:
        more = f" (also: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise SpecError(missing[0], f"no enabled plugin handles this{more}",
                        hint="enable a plugin that claims it (limpet plugins), "
                             "or remove the field from config.json")
