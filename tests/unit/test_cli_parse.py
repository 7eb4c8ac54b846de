"""The runc-compatible command line (limpet.core.cli): global flags in both spellings, the
verbs engines call, signal parsing, and usage errors. No container is created: only verbs
that need no root run (spec, plan, check, features, plugins, state of a missing id)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from limpet.core import cli
from limpet.core.errors import UsageError
from limpet.core.lifecycle import _signal_number
from limpet.core.log import configure


@pytest.fixture(autouse=True)
def _reset_logger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("LIMPET_CONFIG", str(tmp_path / "no-config.yaml"))
    yield
    configure(None, "text", False)   # main() reconfigures the process-wide logger


def parse(*argv: str) -> Any:
    return cli._parser().parse_args(list(argv))


# --- global flags ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--log-format=json", "state", "c1"],
                                  ["--log-format", "json", "state", "c1"]])
def test_log_format_accepts_both_spellings(argv: list[str]) -> None:
    args = parse(*argv)
    assert args.log_format == "json"
    assert (args.verb, args.container_id) == ("state", "c1")


def test_global_flags_engines_pass_before_the_verb() -> None:
    args = parse("--root", "/run/x", "--log", "/tmp/log.json", "--log-format", "json",
                 "--debug", "--systemd-cgroup", "delete", "c1")
    assert args.root == "/run/x"
    assert args.log == "/tmp/log.json"
    assert args.debug and args.systemd_cgroup
    assert args.verb == "delete"


def test_root_equals_spelling() -> None:
    assert parse("--root=/run/y", "list").root == "/run/y"


def test_bad_log_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--log-format"):
        parse("--log-format", "xml", "list")


# --- verbs -----------------------------------------------------------------------------------

def test_kill_takes_a_signal_number() -> None:
    args = parse("kill", "c1", "9")
    assert (args.container_id, args.signal, args.all) == ("c1", "9", False)


def test_kill_all_with_a_signal_name() -> None:
    args = parse("kill", "--all", "c1", "KILL")
    assert (args.container_id, args.signal, args.all) == ("c1", "KILL", True)
    assert parse("kill", "-a", "c1").all


def test_kill_defaults_to_sigterm() -> None:
    assert parse("kill", "c1").signal == "SIGTERM"


@pytest.mark.parametrize("flag", ["--force", "-f"])
def test_delete_force(flag: str) -> None:
    args = parse("delete", flag, "c1")
    assert (args.container_id, args.force) == ("c1", True)
    assert parse("delete", "c1").force is False


def test_create_with_bundle_and_pid_file() -> None:
    args = parse("create", "--bundle", "B", "--pid-file", "F", "c1")
    assert (args.verb, args.bundle, args.pid_file, args.container_id) == ("create", "B", "F",
                                                                          "c1")
    assert args.console_socket is None
    assert args.preserve_fds == 0


def test_create_as_containerd_calls_it() -> None:
    args = parse("--root", "/run/containerd/runc/k8s.io", "--log", "/x/log.json",
                 "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/pid",
                 "--no-pivot", "--preserve-fds", "2", "-b", "/b2", "abc123")
    assert args.bundle == "/b2"
    assert args.no_pivot
    assert args.preserve_fds == 2
    assert args.container_id == "abc123"


def test_run_detach() -> None:
    args = parse("run", "-d", "--bundle", "B", "c1")
    assert (args.verb, args.detach) == ("run", True)


def test_start_state_take_an_id() -> None:
    assert parse("start", "c1").container_id == "c1"
    assert parse("state", "c1").container_id == "c1"


@pytest.mark.parametrize("argv", [["create", "--bogus", "c1"], ["--bogus", "list"],
                                  ["kill"], ["frobnicate"], ["kill", "c1", "9", "extra"]])
def test_unknown_flags_and_verbs_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse(*argv)


def test_main_turns_a_usage_error_into_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["create", "--bogus", "c1"]) == 2
    assert "--bogus" in capsys.readouterr().err


def test_main_without_a_verb_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("limpet version ")


def test_state_of_a_missing_container_fails_with_its_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(tmp_path), "state", "nope"]) == 1
    assert "container nope does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("verb", [["state", "c1"], ["list"], ["delete", "c1"]])
def test_a_root_that_is_a_file_is_an_error_naming_root(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: list[str]) -> None:
    root = tmp_path / "file"
    root.write_text("")
    assert cli.main(["--root", str(root), *verb]) == 2
    assert f"--root: {root} exists and is not a directory" in capsys.readouterr().err


def test_json_log_format_writes_one_json_error_line(tmp_path: Path) -> None:
    log_file = tmp_path / "log.json"
    code = cli.main(["--root", str(tmp_path), "--log", str(log_file), "--log-format=json",
                     "state", "nope"])
    assert code == 1
    [line] = log_file.read_text().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert "container nope does not exist" in entry["msg"]


def test_invalid_id_is_rejected_before_anything_happens(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert cli.main(["--root", str(tmp_path), "create", "../evil"]) == 1
    assert "invalid container id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_spec_writes_a_config_json_once(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["ociVersion"] == "1.3.0"
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err


def test_plan_json_of_a_bundle(unit_bundle: Any, capsys: pytest.CaptureFixture[str]) -> None:
    unit_bundle.write()
    assert cli.main(["--root", str(unit_bundle.path / "state"), "plan", "--format", "json",
                     str(unit_bundle.path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["phase"] for p in data["phases"]][0] == "prepare"
    assert "unshare" in data["handlers"]


def test_check_reports_the_bad_path(unit_bundle: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    unit_bundle.config["process"]["cwd"] = "relative"
    unit_bundle.write()
    assert cli.main(["check", str(unit_bundle.path)]) == 1
    assert "process.cwd" in capsys.readouterr().err


def test_features_lists_the_builtin_claims(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["features"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ociVersionMax"] == "1.3.0"
    assert "linux.namespaces" in doc["annotations"]["io.github.limpet.claims"]
    assert "rbind" in doc["mountOptions"]


def test_plugins_json_lists_name_source_claims_and_hooks(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plugins", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["namespaces"]["enabled"] is True
    assert "linux.namespaces" in rows["namespaces"]["claims"]
    assert "limpet_plan" in rows["namespaces"]["hooks"]


# --- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("9", signal.SIGKILL), ("KILL", signal.SIGKILL), ("SIGKILL", signal.SIGKILL),
    ("sigterm", signal.SIGTERM), ("term", signal.SIGTERM), ("15", signal.SIGTERM),
    ("HUP", signal.SIGHUP), ("SIGUSR1", signal.SIGUSR1), (" 2 ", signal.SIGINT),
    ("RTMIN", signal.SIGRTMIN),
])
def test_signal_number_accepts_numbers_and_names(value: str, expected: int) -> None:
    assert _signal_number(value) == int(expected)


@pytest.mark.parametrize("value", ["FOO", "99", "0", "-9", "SIG", "", "KILLER"])
def test_signal_number_rejects_unknown_signals(value: str) -> None:
    with pytest.raises(UsageError) as info:
        _signal_number(value)
    assert info.value.where == "SIGNAL"
