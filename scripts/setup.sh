#!/usr/bin/env bash
# Set up limpet on a fresh Debian 12 machine, as root: system packages, a venv in .venv,
# and limpet installed into it (editable, so the tests and the CLI see the working tree).
# Idempotent: a second run only re-installs limpet when pyproject.toml or setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(python3 python3-venv python3-dev gcc libffi-dev busybox-static libseccomp2 make)
# ps(1) for `limpet ps` (its table); linux-libc-dev's <linux/bpf.h> comes with gcc.
PACKAGES+=(procps)
# ip(8) for the linux.netDevices tests: they make veth pairs on the host.
PACKAGES+=(iproute2)
# Reference runtimes for comparisons in tests and benchmarks.
PACKAGES+=(runc crun)
# podman's default seccomp profile (/usr/share/containers/seccomp.json) for the seccomp tests.
PACKAGES+=(golang-github-containers-common)
# The engines the engine tests drive with limpet as their runtime (tests/engines).
PACKAGES+=(podman conmon containerd docker.io)
# newuidmap/newgidmap: rootless podman's user namespace (tests/engines/test_podman_rootless.py).
PACKAGES+=(uidmap)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The Debian interpreter, never a pyenv shim: limpet is exec'd several times per container.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
fi
stamp=.venv/.limpet-installed
# A regular (not editable) install: an editable install's import finder costs ~20 ms on
# every exec of the runtime, and pip byte-compiles what it installs. So the install is
# redone whenever a source file changed since the last one.
if [ ! -f "$stamp" ] || [ -n "$(find pyproject.toml setup.py core plugins -newer "$stamp" \
        -type f \( -name '*.py' -o -name '*.json' -o -name '*.toml' \) -print -quit)" ] \
   || ! .venv/bin/python -c 'import limpet.core._native, limpet.plugins.seccomp._libseccomp' 2>/dev/null; then
  echo "setup: installing limpet into .venv"
  .venv/bin/python -m pip uninstall -q -y limpet >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q '.[test]' >.venv/pip.log 2>&1 \
    || { cat .venv/pip.log; echo "setup: pip install failed"; exit 1; }
  # The runtime is exec'd 3-4 times per container: its launcher starts Python without the
  # site module (-S, ~4 ms: pyvenv.cfg, .pth files, sitecustomize probes) and puts the
  # venv's site-packages on sys.path itself. limpet processes the .pth files there when a
  # plugin is not found without them (core/plugins.py), so editable plugins still load.
  purelib=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '#!%s -S\nimport sys\nsys.path.append("%s")\nfrom limpet.core.launch import run\nrun()\n' \
    "$PWD/.venv/bin/python" "$purelib" > .venv/bin/limpet
  # Every module's code in one file (core/codecache.py): ~90 imports per verb, one read each.
  .venv/bin/python -m limpet.core.codecache >/dev/null
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/limpet --version | tr '\n' ' '))"
