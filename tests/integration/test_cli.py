"""The informational verbs: features, plugins, plan, check (no container is started)."""

from __future__ import annotations

import json

import pytest
from limpet.core.spec import load_features

from tests.conftest import Bundle, Runtime

pytestmark = pytest.mark.root


def test_features_validates_against_the_spec_schema(limpet: Runtime) -> None:
    result = limpet("features")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    load_features(doc)   # raises SpecError with a path if the document is invalid
    assert doc["ociVersionMax"] == "1.3.0"
    assert set(doc["linux"]["namespaces"]) >= {"pid", "network", "mount", "user", "time"}
    assert {"rbind", "rro", "tmpcopyup", "nosymfollow"} <= set(doc["mountOptions"])
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]


def test_features_follow_the_enabled_plugins(limpet: Runtime, tmp_path: object) -> None:
    config = tmp_path / "config.yaml"  # type: ignore[operator]
    config.write_text("plugins:\n  block: [mounts]\n")
    limpet.config_file = str(config)
    doc = json.loads(limpet("features", check=True).stdout)
    assert "mountOptions" not in doc or doc["mountOptions"] == []
    assert "root" not in doc["annotations"]["io.github.limpet.claims"].split(",")


def test_plugins_lists_name_version_source_claims_hooks(limpet: Runtime) -> None:
    rows = json.loads(limpet("plugins", "--format", "json", check=True).stdout)
    by_name = {r["name"]: r for r in rows}
    for name in ("namespaces", "mounts", "devices", "process"):
        row = by_name[name]
        assert row["enabled"] and row["version"] and row["source"].startswith("limpet ")
        assert row["claims"] and "limpet_declare" in row["hooks"]
    assert "linux.namespaces" in by_name["namespaces"]["claims"]
    table = limpet("plugins", check=True).stdout
    assert "namespaces" in table and "linux.namespaces" in table


def test_plan_prints_ordered_phases_without_doing_anything(limpet: Runtime,
                                                           bundle: Bundle) -> None:
    bundle.write()
    plan = json.loads(limpet("plan", "--format", "json", str(bundle.path), check=True).stdout)
    phases = [p["phase"] for p in plan["phases"]]
    assert phases.index("namespaces") < phases.index("mounts") < phases.index("pivot")
    kinds = [op["kind"] for p in plan["phases"] for op in p["ops"]]
    assert kinds.count("mount") == len(bundle.config["mounts"])
    assert "pivot-root" in kinds and "set-credentials" in kinds
    assert all(":" in plan["handlers"][k] for k in set(kinds))
    assert limpet.containers() == []
    text = limpet("plan", str(bundle.path), check=True).stdout
    assert "pivot-root" in text and "mounts[0]" in text


def test_check_validates_without_running(limpet: Runtime, bundle: Bundle) -> None:
    bundle.write()
    assert "valid" in limpet("check", str(bundle.path), check=True).stdout
    bundle.config["linux"]["namespaces"].append({"type": "bogus"})
    bundle.write()
    bad = limpet("check", str(bundle.path))
    assert bad.returncode != 0
    assert "linux.namespaces[5].type" in bad.stderr
    assert limpet.containers() == []


def test_config_set_keeps_comments_and_validates(limpet: Runtime, tmp_path: object) -> None:
    config = tmp_path / "config.yaml"  # type: ignore[operator]
    config.write_text("# operator's note\nplugins:\n  block: []  # none yet\n")
    limpet.config_file = str(config)
    assert limpet("config", "validate", check=True).stdout.strip().endswith("valid")
    limpet("config", "set", "plugins.block", "[devices]", check=True)
    text = config.read_text()
    assert "# operator's note" in text and "block: [devices]" in text
    bad = limpet("config", "set", "plugins.blok", "[x]")
    assert bad.returncode != 0 and "unknown key 'blok'" in bad.stderr
    assert "blok" not in config.read_text()   # nothing written when invalid
    unknown = limpet("config", "set", "plugins.enable", "[no-such-plugin]")
    assert unknown.returncode != 0 and "unknown plugin 'no-such-plugin'" in unknown.stderr
    assert "block: [devices]" in limpet("config", "show", check=True).stdout
