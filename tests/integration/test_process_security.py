"""The process's security attributes from inside real containers: every rlimit,
oom_score_adj, sysctls, scheduler policy and nice, I/O priority, personality, memory policy,
and the clear errors (naming the field, leaving nothing behind) of what the host refuses
(config.md#linux-process, config-linux.md#sysctl, #personality, #memory-policy)."""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from limpet.core.syscalls import const

from tests.conftest import LIMPET, Bundle, Runtime, run_in

pytestmark = pytest.mark.root

#: /proc/self/limits labels of each RLIMIT_* and (soft, hard) to ask for, never above the
#: test's own hard limit (raising one needs CAP_SYS_RESOURCE, which these hosts lack).
LIMITS = {
    "RLIMIT_CPU": ("Max cpu time", 3600, 7200),
    "RLIMIT_FSIZE": ("Max file size", 1 << 30, 1 << 31),
    "RLIMIT_DATA": ("Max data size", 1 << 36, 1 << 37),
    "RLIMIT_STACK": ("Max stack size", 8 << 20, 16 << 20),
    "RLIMIT_CORE": ("Max core file size", 0, 1 << 20),
    "RLIMIT_RSS": ("Max resident set", 1 << 34, 1 << 35),
    "RLIMIT_NPROC": ("Max processes", 4000, 5000),
    "RLIMIT_NOFILE": ("Max open files", 1000, 2000),
    "RLIMIT_MEMLOCK": ("Max locked memory", 65536, 1 << 20),
    "RLIMIT_AS": ("Max address space", 1 << 38, 1 << 39),
    "RLIMIT_LOCKS": ("Max file locks", 100, 200),
    "RLIMIT_SIGPENDING": ("Max pending signals", 100, 200),
    "RLIMIT_MSGQUEUE": ("Max msgqueue size", 8192, 16384),
    "RLIMIT_NICE": ("Max nice priority", 0, 0),
    "RLIMIT_RTPRIO": ("Max realtime priority", 0, 0),
    "RLIMIT_RTTIME": ("Max realtime timeout", 1_000_000, 2_000_000),
}


def _limits(text: str) -> dict[str, tuple[str, str]]:
    """/proc/self/limits: label -> (soft, hard)."""
    found = {}
    for line in text.splitlines()[1:]:
        values = line[26:].split()
        found[line[:26].strip()] = (values[0], values[1])
    return found


def _stat(text: str) -> list[str]:
    """/proc/PID/stat fields, numbered from 1 like proc(5) (index 0 unused)."""
    comm_end = text.rindex(")")
    return ["", "", ""] + text[comm_end + 2:].split()


def _cgroup_dirs(container_id: str) -> list[str]:
    return [d for d in (f"/sys/fs/cgroup/{c}/limpet-{container_id}"
                        for c in ("pids", "memory", "cpu", "devices", "freezer"))
            if os.path.exists(d)]


def _run_failing(limpet: Runtime, bundle: Bundle) -> tuple[str, str]:
    container_id = f"t-{uuid.uuid4().hex[:8]}"
    result = run_in(limpet, bundle, "true", name=container_id)
    assert result.returncode != 0
    assert limpet.containers() == []
    assert _cgroup_dirs(container_id) == []
    return container_id, result.stderr


# --- rlimits ----------------------------------------------------------------------------------

def test_every_rlimit_of_the_spec_is_applied(limpet: Runtime, bundle: Bundle) -> None:
    wanted = {}
    rlimits = []
    for name, (label, soft, hard) in LIMITS.items():
        own = resource.getrlimit(const(name))[1]
        if own != resource.RLIM_INFINITY:
            hard = min(hard, own)
            soft = min(soft, hard)
        wanted[label] = (str(soft), str(hard))
        rlimits.append({"type": name, "soft": soft, "hard": hard})
    bundle.config["process"]["rlimits"] = rlimits
    result = run_in(limpet, bundle, "cat /proc/self/limits")
    assert result.returncode == 0, result.stderr
    assert _limits(result.stdout) == wanted


# --- oomScoreAdj ------------------------------------------------------------------------------

def test_oom_score_adj_is_set(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["oomScoreAdj"] = 500
    result = run_in(limpet, bundle, "cat /proc/self/oom_score_adj")
    assert result.stdout.strip() == "500", result.stderr


def test_absent_oom_score_adj_keeps_the_callers_value(limpet: Runtime, bundle: Bundle) -> None:
    bundle.set_args("/bin/cat", "/proc/self/oom_score_adj").write()
    # The caller (an engine, here a shell) raised its own value; limpet must not touch it.
    script = (f'echo 123 > /proc/self/oom_score_adj && exec "$0" --root {limpet.root} '
              f"run --bundle {bundle.path} t-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(["/bin/sh", "-c", script, LIMPET], stdout=out, stderr=err,
                              env={**os.environ, "LIMPET_CONFIG": str(limpet.config_file)},
                              timeout=60)
        out.seek(0)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode()
        assert out.read().decode().strip() == "123"


def test_refused_oom_score_adj_is_a_clear_error_and_leaves_nothing(
        limpet: Runtime, bundle: Bundle) -> None:
    own = int(Path("/proc/self/oom_score_adj").read_text())
    bundle.config["process"]["oomScoreAdj"] = -998
    _, stderr = _run_failing(limpet, bundle)
    assert (f"process.oomScoreAdj: cannot set -998 (lower than the runtime's own {own}): "
            "CAP_SYS_RESOURCE is not available") in stderr


# --- sysctl -----------------------------------------------------------------------------------

def test_namespaced_sysctls_are_set_and_proc_sys_stays_read_only(limpet: Runtime,
                                                                  bundle: Bundle) -> None:
    assert "/proc/sys" in bundle.config["linux"]["readonlyPaths"]
    bundle.config["linux"]["sysctl"] = {
        "net.ipv4.ip_forward": "1", "net/ipv4/tcp_syncookies": "0",
        "kernel.shmmni": "1234", "fs.mqueue.msg_max": "20",
        "kernel.domainname": "sysctl.example"}
    result = run_in(limpet, bundle, "cat /proc/sys/net/ipv4/ip_forward "
                    "/proc/sys/net/ipv4/tcp_syncookies /proc/sys/kernel/shmmni "
                    "/proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname; "
                    "echo 0 > /proc/sys/net/ipv4/ip_forward && echo writable")
    assert result.stdout.split() == ["1", "0", "1234", "20", "sysctl.example"], result.stderr
    assert "writable" not in result.stdout


def test_sysctls_do_not_change_the_host(limpet: Runtime, bundle: Bundle) -> None:
    before = Path("/proc/sys/kernel/shmmni").read_text()
    bundle.config["linux"]["sysctl"] = {"kernel.shmmni": str(int(before) - 1)}
    assert run_in(limpet, bundle, "cat /proc/sys/kernel/shmmni").stdout.strip() == \
        str(int(before) - 1)
    assert Path("/proc/sys/kernel/shmmni").read_text() == before


def test_net_sysctl_without_a_network_namespace_is_refused(limpet: Runtime,
                                                           bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "network"]
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    _, stderr = _run_failing(limpet, bundle)
    assert 'linux.sysctl["net.ipv4.ip_forward"]: net.ipv4.ip_forward needs its own network ' \
        "namespace" in stderr


def test_sysctl_the_kernel_does_not_have_names_its_key(limpet: Runtime,
                                                       bundle: Bundle) -> None:
    bundle.config["linux"]["sysctl"] = {"net.ipv4.no_such_thing": "1"}
    _, stderr = _run_failing(limpet, bundle)
    assert 'linux.sysctl["net.ipv4.no_such_thing"]: net.ipv4.no_such_thing: no such sysctl' \
        in stderr


# --- scheduler and I/O priority ---------------------------------------------------------------

def test_scheduler_policy_and_nice(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    fields = _stat(run_in(limpet, bundle, "cat /proc/self/stat").stdout)
    assert (fields[41], fields[19]) == ("3", "7")   # policy SCHED_BATCH, nice
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_IDLE"}
    assert _stat(run_in(limpet, bundle, "cat /proc/self/stat").stdout)[41] == "5"


def test_negative_nice_is_set_before_capabilities_are_dropped(limpet: Runtime,
                                                              bundle: Bundle) -> None:
    # The default capabilities lack CAP_SYS_NICE: only the init, before dropping them, can
    # lower nice below 0.
    assert "CAP_SYS_NICE" not in bundle.config["process"]["capabilities"]["bounding"]
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": -5}
    result = run_in(limpet, bundle, "cat /proc/self/stat")
    fields = _stat(result.stdout)
    assert (fields[41], fields[19]) == ("0", "-5"), result.stderr


def test_io_priority(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    assert run_in(limpet, bundle, "ionice -p $$").stdout.strip() == "best-effort: prio 3"
    # The real-time class needs CAP_SYS_ADMIN or CAP_SYS_NICE, which the default set lacks:
    # it is set before the capabilities are applied.
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_RT", "priority": 1}
    result = run_in(limpet, bundle, "ionice -p $$")
    assert result.stdout.strip() == "realtime: prio 1", result.stderr


# --- personality, memory policy ---------------------------------------------------------------

def test_personality_linux32(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    result = run_in(limpet, bundle, "uname -m; cat /proc/self/personality")
    lines = result.stdout.split()
    assert lines[0] in ("i686", "i386", "armv8l", "armv7l"), result.stderr
    assert lines[1] == "00000008"
    bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    assert run_in(limpet, bundle, "cat /proc/self/personality").stdout.strip() == "00000000"


@pytest.mark.skipif(not os.path.exists("/proc/self/numa_maps"), reason="kernel without NUMA")
def test_memory_policy_bind(limpet: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    result = run_in(limpet, bundle, "cat /proc/self/numa_maps")
    policies = {line.split()[1] for line in result.stdout.splitlines()}
    assert policies == {"bind:0"}, result.stderr


# --- accepted, kept for exec ------------------------------------------------------------------

def test_exec_cpu_affinity_is_accepted_and_does_not_pin_the_init(limpet: Runtime,
                                                                 bundle: Bundle) -> None:
    bundle.config["process"]["execCPUAffinity"] = {"initial": "0", "final": "0"}
    result = run_in(limpet, bundle, "grep Cpus_allowed_list /proc/self/status")
    assert result.returncode == 0, result.stderr
    ours = Path("/proc/self/status").read_text()
    assert result.stdout.strip() in ours


# --- LSMs the host does not have --------------------------------------------------------------

@pytest.mark.skipif(os.path.exists("/sys/kernel/security/apparmor"), reason="host has AppArmor")
def test_apparmor_profile_on_a_host_without_apparmor_is_refused(limpet: Runtime,
                                                                bundle: Bundle) -> None:
    bundle.config["process"]["apparmorProfile"] = "acme"
    _, stderr = _run_failing(limpet, bundle)
    assert "process.apparmorProfile: profile 'acme' asked, but AppArmor is not enabled on " \
        "this host" in stderr


@pytest.mark.skipif(os.path.exists("/sys/fs/selinux/enforce"), reason="host has SELinux")
def test_selinux_label_on_a_host_without_selinux_is_refused(limpet: Runtime,
                                                            bundle: Bundle) -> None:
    bundle.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    _, stderr = _run_failing(limpet, bundle)
    assert "process.selinuxLabel: label 'system_u:system_r:container_t:s0' asked, but " \
        "SELinux is not enabled on this host" in stderr
