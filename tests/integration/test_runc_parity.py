"""`limpet run` of a bundle made by `runc spec` behaves like `runc run` of the same bundle:
same hostname, ids, capabilities, /dev, mounts and flags, rlimits, umask and environment,
as seen from inside the container."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LIMPET

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")]

PROBE = ("hostname; id; grep -E '^(Cap|NoNew)' /proc/self/status; ls -ln /dev | sort; "
         "cut -d' ' -f2-4 /proc/self/mounts | sort; ulimit -n; umask; echo $HOME; env | sort")


def _normalise(output: str) -> list[str]:
    lines = []
    for line in output.splitlines():
        # Known, deliberate differences: limpet keeps the v1 cgroup tmpfs read-only when the
        # mount asks for "ro" (runc leaves the tmpfs itself writable) and also shows the
        # hybrid host's cgroup2 hierarchy.
        if line.startswith("/sys/fs/cgroup tmpfs "):
            line = line.replace(" ro,", " rw,")
        if line.startswith("/sys/fs/cgroup/unified "):
            continue
        lines.append(line)
    return lines


def test_runc_spec_bundle_runs_the_same(tmp_path: Path, rootfs: Path) -> None:
    subprocess.run(["runc", "spec"], cwd=tmp_path, check=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["process"]["terminal"] = False     # no terminal in a test
    config["process"]["args"] = ["sh", "-c", PROBE]
    config["root"]["path"] = str(rootfs)
    (tmp_path / "config.json").write_text(json.dumps(config))
    name = f"parity-{tmp_path.name[-8:]}"
    runc = subprocess.run(["runc", "--root", "/run/limpet-test-runc", "run", name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    limpet = subprocess.run([LIMPET, "--root", "/run/limpet-test-parity", "run", name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    shutil.rmtree("/run/limpet-test-runc", ignore_errors=True)
    shutil.rmtree("/run/limpet-test-parity", ignore_errors=True)
    assert runc.returncode == 0, runc.stderr
    assert limpet.returncode == 0, limpet.stderr
    assert _normalise(limpet.stdout) == _normalise(runc.stdout)
