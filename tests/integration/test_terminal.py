"""process.terminal: a pty inside the container, its master sent over --console-socket
(SCM_RIGHTS) or bridged by ``run`` in the foreground, as runc does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LIMPET, Bundle, Runtime, console_socket, read_pty

pytestmark = pytest.mark.root


def test_console_socket_receives_the_pty_master(limpet: Runtime, bundle: Bundle,
                                                tmp_path: Path) -> None:
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.set_args("/bin/sh", "-c", "tty; stty size; echo ready").write()
    with console_socket(str(tmp_path / "console.sock")) as received:
        result = limpet("create", "--bundle", str(bundle.path), "--console-socket",
                        str(tmp_path / "console.sock"), "tty1")
    assert result.returncode == 0, result.stderr
    assert len(received) == 1
    master = received[0]
    limpet("start", "tty1", check=True)
    output = read_pty(master).decode()
    os.close(master)
    assert output.split() == ["/dev/pts/0", "30", "100", "ready"]


def test_run_in_the_foreground_bridges_the_terminal(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["terminal"] = True
    bundle.set_args("/bin/sh", "-c", "tty; read line; echo got:$line").write()
    proc = subprocess.run([LIMPET, "--root", limpet.root, "run", "--bundle", str(bundle.path),
                           "tty2"], input="hello\n", capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.replace("\r", "").split("\n")
    assert "/dev/pts/0" in lines
    assert "got:hello" in lines


def test_terminal_without_a_console_socket_is_an_error(limpet: Runtime,
                                                       bundle: Bundle) -> None:
    bundle.config["process"]["terminal"] = True
    bundle.write()
    result = limpet("create", "--bundle", str(bundle.path), "tty3")
    assert result.returncode != 0
    assert "process.terminal" in result.stderr and "--console-socket" in result.stderr
    assert limpet.containers() == []


def test_run_t_gives_a_terminal_whatever_config_json_says(limpet: Runtime,
                                                          bundle: Bundle) -> None:
    bundle.config["process"]["terminal"] = False
    bundle.set_args("/bin/sh", "-c", "tty").write()
    proc = subprocess.run([LIMPET, "--root", limpet.root, "run", "-t", "--bundle",
                           str(bundle.path), "tty4"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.replace("\r", "").strip() == "/dev/pts/0"
    result = limpet("run", "-d", "-t", "--bundle", str(bundle.path), "tty5")
    assert result.returncode != 0 and "--console-socket" in result.stderr
