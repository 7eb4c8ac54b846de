"""``limpet features`` (runtime-spec features.md), generated from the plugins' declarations
so that it cannot drift from what the enabled plugins actually apply."""

from __future__ import annotations

from typing import Any

from .state import OCI_VERSION

#: Hook kinds are listed only when a plugin claims "hooks".
HOOK_KINDS = ["prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop"]


def _merge(into: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        elif isinstance(value, list):
            existing = into.setdefault(key, [])
            existing.extend(v for v in value if v not in existing)
        else:
            into[key] = value


def build(plugins: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"ociVersionMin": "1.0.0", "ociVersionMax": OCI_VERSION}
    for plugin in plugins.loaded.values():
        _merge(doc, plugin.info.features_fragment())
    claims = set(plugins.claims)
    if "hooks" in claims:
        doc["hooks"] = list(HOOK_KINDS)
    doc.setdefault("mountOptions", [])
    doc.setdefault("linux", {})
    doc["annotations"] = {"org.opencontainers.runc.version": "limpet 0.1.0",
                          "io.github.limpet.claims": ",".join(sorted(claims))}
    return doc


def features(config_file: str | None) -> dict[str, Any]:
    from . import config, plugins

    runtime_config, doc, path = config.load(config_file)
    return build(plugins.load(runtime_config, doc, path))
