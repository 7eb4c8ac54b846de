"""Side-by-side benchmark of limpet against runc and crun (issue 7).

Every runtime runs the same busybox bundle, interleaved round by round so that machine
noise hits all of them alike. The figures are medians; ratios are to runc's medians.
Run as root: ``make bench`` (or ``.venv/bin/python bench/bench.py --rounds 30``).

Measured per runtime:
- run: ``run`` of /bin/true (create, start, wait, delete in one verb);
- create, start (the init reaped: this process is a child subreaper), state, kill, delete;
- cycle: create + start + wait for exit + delete, each verb a separate exec;
- exec: ``exec`` of /bin/true into a running container (skipped where unsupported);
- pss: the PSS of a created container's waiting init (kB);
- concurrent: wall time of 20 containers created and started at once.

crun does not support this host's hybrid cgroups (it refuses the cgroup2 mount that holds
only hugetlb), so the whole benchmark runs in a private mount namespace where
/sys/fs/cgroup/unified is unmounted: the same view for every runtime, the host untouched.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PR_SET_CHILD_SUBREAPER = 36
METRICS = ("run", "create", "start", "state", "kill", "delete", "cycle", "exec", "pss",
           "concurrent")


def _reexec_in_private_mount_namespace() -> None:
    if os.environ.get("LIMPET_BENCH_NS") == "1":
        return
    script = ("mount --make-rprivate / && "
              "{ ! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified; } && "
              'exec "$@"')
    os.environ["LIMPET_BENCH_NS"] = "1"
    os.execvp("unshare", ["unshare", "-m", "sh", "-c", script, "sh", sys.executable,
                          *sys.argv])


def _runtimes(limpet: str) -> dict[str, list[str]]:
    found = {"limpet": [limpet], "runc": [shutil.which("runc") or ""],
             "crun": [shutil.which("crun") or ""]}
    return {name: cmd for name, cmd in found.items() if cmd[0]}


def _build_bundle(path: Path) -> Path:
    rootfs = path / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("sh", "true", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["runc", "spec"], cwd=path, check=True)
    config = json.loads((path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    (path / "config.json").write_text(json.dumps(config))
    sleeper = path.parent / "sleeper"
    sleeper.mkdir()
    config["root"]["path"] = str(rootfs)
    config["process"]["args"] = ["/bin/sleep", "1000"]
    (sleeper / "config.json").write_text(json.dumps(config))
    return path


class Runner:
    def __init__(self, name: str, cmd: list[str], state_root: str) -> None:
        self.name = name
        self.cmd = [*cmd, "--root", state_root]
        self.counter = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"bench-{self.name}-{os.getpid()}-{self.counter}"

    def __call__(self, *args: str, check: bool = True) -> float:
        # stderr goes to a file, not a pipe: a detached container inherits it, and waiting
        # for a pipe's EOF would wait for the container.
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.run([*self.cmd, *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err)
            elapsed = (time.perf_counter() - start) * 1000
            if check and proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"{self.name} {' '.join(args)}: "
                                   f"{err.read().decode(errors='replace')[-300:]}")
        return elapsed

    def pid(self, cid: str) -> int:
        out = subprocess.run([*self.cmd, "state", cid], capture_output=True, check=True)
        return int(json.loads(out.stdout)["pid"])


def _reap(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.001)


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def one_round(r: Runner, bundle: Path, sleeper: Path, results: dict[str, list[float]],
              supports_exec: bool) -> None:
    b, s = str(bundle), str(sleeper)
    cid = r.new_id()
    results["run"].append(r("run", "--bundle", b, cid))
    # create / state / start / delete of a /bin/true container
    cid = r.new_id()
    results["create"].append(r("create", "--bundle", b, cid))
    pid = r.pid(cid)
    results["pss"].append(_pss_kb(pid))
    results["state"].append(r("state", cid))
    results["start"].append(r("start", cid))
    _reap(pid)
    results["delete"].append(r("delete", cid))
    # kill of a running container
    cid = r.new_id()
    r("run", "-d", "--bundle", s, cid)
    pid = r.pid(cid)
    if supports_exec:
        results["exec"].append(r("exec", cid, "/bin/true"))
    results["kill"].append(r("kill", cid, "KILL"))
    _reap(pid)
    r("delete", "--force", cid)
    # the cycle an engine drives
    cid = r.new_id()
    start = time.perf_counter()
    r("create", "--bundle", b, cid)
    pid = r.pid(cid)
    r("start", cid)
    _reap(pid)
    r("delete", cid)
    results["cycle"].append((time.perf_counter() - start) * 1000)


def concurrent(r: Runner, bundle: Path, count: int = 20) -> float:
    ids = [r.new_id() for _ in range(count)]
    errors: list[str] = []

    def launch(cid: str) -> None:
        try:
            r("run", "-d", "--bundle", str(bundle), cid)
        except RuntimeError as exc:
            errors.append(str(exc))

    start = time.perf_counter()
    threads = [threading.Thread(target=launch, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = (time.perf_counter() - start) * 1000
    for cid in ids:
        r("delete", "--force", cid, check=False)
    if errors:
        raise RuntimeError(errors[0])
    return elapsed


def _supports_exec(r: Runner) -> bool:
    out = subprocess.run([*r.cmd, "exec", "--help"], capture_output=True)
    return out.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--limpet", default=str(ROOT / ".venv" / "bin" / "limpet"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--only", nargs="*", help="runtimes to measure (default: all found)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    _reexec_in_private_mount_namespace()
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # SIGTERM (e.g. from timeout) must still run the cleanup below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="limpet-bench-"))
    os.chmod(work, 0o755)
    runners: list[Runner] = []
    try:
        bundle = _build_bundle(work / "bundle")
        sleeper = work / "sleeper"
        for name, cmd in _runtimes(args.limpet).items():
            if args.only and name not in args.only:
                continue
            runners.append(Runner(name, cmd, str(work / f"state-{name}")))
        results = {r.name: {m: [] for m in METRICS} for r in runners}
        execs = {r.name: _supports_exec(r) for r in runners}
        for _ in range(args.rounds):
            for r in runners:
                one_round(r, bundle, sleeper, results[r.name], execs[r.name])
        for r in runners:
            for _ in range(3):
                results[r.name]["concurrent"].append(concurrent(r, bundle))
    finally:
        for r in runners:
            for cid in os.listdir(r.cmd[-1]) if os.path.isdir(r.cmd[-1]) else []:
                subprocess.run([*r.cmd, "delete", "--force", cid], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    report(results, args.json, args.rounds)
    return 0


def report(results: dict[str, dict[str, list[float]]], json_path: str, rounds: int) -> None:
    medians = {name: {m: statistics.median(v) if v else None for m, v in data.items()}
               for name, data in results.items()}
    base = medians.get("runc", {})
    names = list(medians)
    print(f"medians of {rounds} interleaved rounds (ms; pss in kB); ratio to runc in ()")
    print(f"{'metric':<11}" + "".join(f"{n:>20}" for n in names))
    for m in METRICS:
        row = f"{m:<11}"
        for n in names:
            value = medians[n][m]
            if value is None:
                row += f"{'n/a':>20}"
                continue
            ratio = f" ({value / base[m]:.2f}x)" if base.get(m) else ""
            row += f"{value:>12.1f}{ratio:>8}"
        print(row)
    out: dict[str, Any] = {
        "rounds": rounds, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "medians": medians,
        "ratios_to_runc": {n: {m: (medians[n][m] / base[m]) if base.get(m) and medians[n][m]
                               else None for m in METRICS} for n in names},
    }
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {json_path}")


if __name__ == "__main__":
    sys.exit(main())
