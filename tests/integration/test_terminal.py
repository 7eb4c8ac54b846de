"""process.terminal: a pty inside the container, its master sent over --console-socket
(SCM_RIGHTS) or bridged by ``run`` in the foreground, as runc does."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import LIMPET, Bundle, Runtime

pytestmark = pytest.mark.root


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:   # EIO once the container side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_console_socket_receives_the_pty_master(limpet: Runtime, bundle: Bundle,
                                                tmp_path: Path) -> None:
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.set_args("/bin/sh", "-c", "tty; stty size; echo ready").write()
    path = str(tmp_path / "console.sock")
    received: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
                received.extend(fds)

        thread = threading.Thread(target=accept)
        thread.start()
        result = limpet("create", "--bundle", str(bundle.path), "--console-socket", path,
                        "tty1")
        thread.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert len(received) == 1
    master = received[0]
    limpet("start", "tty1", check=True)
    output = _read_all(master).decode()
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
