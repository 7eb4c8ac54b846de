"""The runtime's configuration file (limpet.core.config): defaults, typos named with their
line, invalid YAML, plugin options, and where the file is looked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from limpet.core import config, plugins
from limpet.core.configmodel import RuntimeConfig
from limpet.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def load_error(path: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        runtime_config, doc, where = config.load(path)
        plugins.load(runtime_config, doc, where)
    return info.value


def test_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    runtime_config, doc, path = config.load(str(tmp_path / "absent.yaml"))
    assert doc is None
    assert path == str(tmp_path / "absent.yaml")
    assert runtime_config.plugins.enable == []
    assert runtime_config.plugins.block == []
    assert runtime_config.plugins.options == {}
    assert runtime_config.backends == {}


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    runtime_config, _, _ = config.load(write(tmp_path, "# nothing yet\n"))
    assert isinstance(runtime_config, config.DefaultConfig)   # pydantic is not even imported
    assert runtime_config.model_dump() == RuntimeConfig.model_validate({}).model_dump()


def test_valid_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins:\n  block: [devices]\nbackends:\n  cgroups: v1\n")
    runtime_config, _, _ = config.load(path)
    assert runtime_config.plugins.block == ["devices"]
    assert runtime_config.backends == {"cgroups": "v1"}


def test_typo_at_top_level_names_the_key_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "backends: {}\n\nlog-fromat: json\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.where == f"{path}:3"
    assert "log-fromat" in str(info.value)
    assert str(info.value).startswith(f"{path}:3: log-fromat: unknown key 'log-fromat'")


def test_nested_typo_names_the_dotted_key_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins:\n  enable: []\n  blok: [devices]\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == f"{path}:3: plugins.blok: unknown key 'blok'"


def test_bad_value_names_the_key_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "backends: {}\nplugins:\n  block: devices\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.where == f"{path}:3"
    assert "plugins.block" in info.value.message


def test_state_root_and_log_format_are_cli_only(tmp_path: Path) -> None:
    """--root and --log-format are read by every verb; config.yaml is not (cost, and runc
    parity): the keys are rejected rather than validated and ignored."""
    path = write(tmp_path, "root: /run/other\n")
    with pytest.raises(ConfigError, match="unknown key 'root'"):
        config.load(path)


def test_invalid_yaml_is_a_config_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "root: [unterminated\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.where == f"{path}:2"
    assert "invalid YAML" in info.value.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- root\n- plugins\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert "mapping" in info.value.message


def test_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(str(tmp_path))   # a directory
    assert info.value.where == str(tmp_path)


def test_options_for_an_unknown_plugin_are_an_error(tmp_path: Path,
                                                    plugin_set: Any) -> None:
    path = write(tmp_path, "plugins:\n  options:\n    mountz: {symlinks: in-root}\n")
    err = load_error(path)
    assert path in str(err)
    assert "unknown plugin 'mountz'" in err.message
    assert "mounts" in err.message   # lists what is installed


def test_options_for_an_unknown_plugin_name_the_key_and_its_line(
        tmp_path: Path, plugin_set: Any) -> None:
    path = write(tmp_path, "plugins:\n  options:\n    mountz: {symlinks: in-root}\n")
    err = load_error(path)
    assert err.where == f"{path}:3"
    assert err.message.startswith("plugins.options.mountz:")


@pytest.mark.parametrize("section", ["enable", "block"])
def test_unknown_plugin_in_enable_or_block_is_an_error(tmp_path: Path, plugin_set: Any,
                                                       section: str) -> None:
    err = load_error(write(tmp_path, f"plugins:\n  {section}: [nosuchplugin]\n"))
    assert "unknown plugin 'nosuchplugin'" in err.message


def test_plugin_option_typo_names_the_key_and_its_line(tmp_path: Path,
                                                       plugin_set: Any) -> None:
    path = write(tmp_path, "plugins:\n  options:\n    mounts:\n      symlinks: in-root\n"
                           "      symlinkz: beneath\n")
    err = load_error(path)
    assert str(err) == f"{path}:5: plugins.options.mounts.symlinkz: unknown key 'symlinkz'"


def test_config_path_prefers_the_cli_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_CONFIG", "/from/env.yaml")
    assert config.config_path("/from/cli.yaml") == "/from/cli.yaml"


def test_config_path_honours_limpet_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMPET_CONFIG", "/from/env.yaml")
    assert config.config_path() == "/from/env.yaml"


def test_config_path_defaults_to_etc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIMPET_CONFIG", raising=False)
    assert config.config_path() == "/etc/limpet/config.yaml" == config.DEFAULT_PATH


def test_load_reads_the_file_named_by_limpet_config(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "backends: {cgroups: v1}\n")
    monkeypatch.setenv("LIMPET_CONFIG", path)
    runtime_config, _, where = config.load()
    assert where == path
    assert runtime_config.backends == {"cgroups": "v1"}
