"""The container process from inside real containers: args, env, cwd, user, umask,
capabilities, rlimits, no_new_privs (config.md#process, #linux-process)."""

from __future__ import annotations

import pytest

from tests.conftest import Bundle, Runtime, run_in

pytestmark = pytest.mark.root

CAP_LINES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def _status(output: str) -> dict[str, str]:
    return {k.rstrip(":"): v for k, v, *_ in (line.split() + [""] for line in output.splitlines())
            if k.rstrip(":") in (*CAP_LINES, "NoNewPrivs", "Uid", "Gid", "Groups")}


def _mask(*numbers: int) -> str:
    return f"{sum(1 << n for n in numbers):016x}"


def test_args_env_and_cwd(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["env"] = ["PATH=/bin", "GREETING=hello world"]
    bundle.config["process"]["cwd"] = "/tmp"
    result = run_in(limpet, bundle, 'echo "$GREETING"; pwd; echo "$HOME"; echo "$0"')
    assert result.stdout.splitlines() == ["hello world", "/tmp", "/root", "/bin/sh"]


def test_missing_cwd_is_created(limpet: Runtime, bundle: Bundle, tmp_path: object) -> None:
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"].append({"destination": "/work", "type": "tmpfs",
                                    "source": "tmpfs"})
    bundle.config["process"]["cwd"] = "/work/deep/dir"
    assert run_in(limpet, bundle, "pwd").stdout == "/work/deep/dir\n"


def test_user_uid_gid_and_additional_groups(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000,
                                        "additionalGids": [5, 65534]}
    result = run_in(limpet, bundle, "id -u; id -g; id -G; echo $HOME; "
                                    "grep -E '^(Uid|Gid|Groups)' /proc/self/status")
    lines = result.stdout.splitlines()
    assert lines[:2] == ["1000", "1000"]
    assert set(lines[2].split()) == {"1000", "5", "65534"}
    assert lines[3] == "/home/user"
    status = _status("\n".join(lines[4:]))
    assert status["Uid"] == "1000" and status["Gid"] == "1000"


def test_umask_is_applied(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"]["umask"] = 0o077
    assert run_in(limpet, bundle, "umask").stdout.strip() == "0077"
    bundle.config["process"]["user"].pop("umask")
    assert run_in(limpet, bundle, "umask").stdout.strip() == "0022"


def test_capabilities_of_root_match_the_sets(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    status = _status(run_in(limpet, bundle, "cat /proc/self/status").stdout)
    # CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10; exec of a non-setuid file by root
    # recomputes effective = permitted (ambient and inheritable add NET_BIND_SERVICE).
    assert status["CapBnd"] == _mask(0, 5, 10)
    assert status["CapInh"] == _mask(10)
    assert status["CapAmb"] == _mask(10)
    assert status["CapPrm"] == _mask(0, 5, 10)


def test_non_root_user_gets_only_ambient_capabilities(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    status = _status(run_in(limpet, bundle, "cat /proc/self/status").stdout)
    assert status["CapBnd"] == _mask(5, 10)
    assert status["CapPrm"] == _mask(10)   # after execve, a non-root user keeps ambient only
    assert status["CapEff"] == _mask(10)
    assert status["CapAmb"] == _mask(10)


def test_no_new_privileges(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["noNewPrivileges"] = True
    assert _status(run_in(limpet, bundle, "cat /proc/self/status").stdout)["NoNewPrivs"] == "1"
    bundle.config["process"]["noNewPrivileges"] = False
    assert _status(run_in(limpet, bundle, "cat /proc/self/status").stdout)["NoNewPrivs"] == "0"


def test_rlimits_are_applied(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
    result = run_in(limpet, bundle, "ulimit -n; ulimit -Hn; ulimit -u; ulimit -c")
    assert result.stdout.split() == ["512", "1024", "100", "0"]


def test_refused_rlimit_is_a_clear_error(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 99999999}]
    result = run_in(limpet, bundle, "true")
    assert result.returncode != 0
    assert "process.rlimits[0]: RLIMIT_NOFILE hard 99999999 exceeds the runtime's own " \
           "hard limit" in result.stderr
    assert "CAP_SYS_RESOURCE is not available" in result.stderr
    assert limpet.containers() == []
