"""The fast command-line path (limpet.core.argv) reads what argparse reads, or steps aside."""

from __future__ import annotations

import pytest
from limpet.core import argv, cli
from limpet.core.errors import UsageError

AGREE = [
    "state c1",
    "--root /run/x state c1",
    "--root=/run/x --log /tmp/l.json --log-format json start c1",
    "--log-format=json --log F create --bundle B --pid-file F --console-socket S --no-pivot c1",
    "create -b B --preserve-fds 2 --no-new-keyring c1",
    "--systemd-cgroup --debug kill c1 9",
    "kill --all c1 15",
    "kill -a c1",
    "kill c1 -9",
    "delete --force c1",
    "delete -f c1",
    "pause c1",
    "resume c1",
    "ps --format json c1",
    "ps c1 -o pid",
    "run -d --keep -b B c1",
    "run -t --bundle B c1",
    "run --bundle=B c1",
    "exec --process /tmp/p.json --detach --pid-file F c1",
    "exec --pid-file F --process F --detach --tty --console-socket S c1",
    "exec -t -e A=1 -e B=2 -u 1000:1000 -g 5 -g 6 --cap CAP_KILL --cwd /tmp c1 sh -c x",
    "exec c1 ls -l -a",
    "exec -d --preserve-fds 1 --no-new-privs --ignore-paused c1 true",
    "exec c1",
    "--config /etc/limpet.yaml exec --apparmor p --process-label l c1 true",
    "--version",
    "-v",
    "--root /r --version",
    "-v state c1",
]
FALL_BACK = [
    "", "--help", "state", "state -h", "state c1 c2", "create --bogus c1", "kill",
    "--log-format xml state c1", "list", "spec", "exec --preserve-fds x c1 true",
    "unknown c1", "ps -f yaml c1", "--root", "kill -a", "state -- c1",
    "-root /r state c1",
]


@pytest.mark.parametrize("line", AGREE)
def test_the_fast_path_reads_what_argparse_reads(line: str) -> None:
    words = line.split()
    fast = argv.parse(words)
    assert fast is not None, line
    slow = cli._parser().parse_args(words)
    assert vars(fast) == vars(slow)


@pytest.mark.parametrize("line", FALL_BACK)
def test_anything_else_is_left_to_argparse(line: str) -> None:
    assert argv.parse(line.split()) is None


def test_argparse_still_reports_what_the_fast_path_leaves() -> None:
    with pytest.raises(UsageError):
        cli._parser().parse_args(["create", "--bogus", "c1"])
