#!/usr/bin/env bash
# Build an OCI bundle in ./bundle from Debian's busybox-static and `limpet spec`, with a
# process that shows the container's own hostname, PID 1 and mounts.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-bundle}
rm -rf "$bundle"
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$bundle/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$bundle/rootfs/etc/group"
.venv/bin/limpet spec --bundle "$bundle"
.venv/bin/python - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False   # plain output, whatever stdin is
config["process"]["args"] = ["/bin/sh", "-c",
    'echo "hostname: $(hostname)"; echo "my pid: $$"; echo "processes:"; ps; '
    'echo "mounts:"; cat /proc/self/mounts']
json.dump(config, open(path, "w"), indent=2)
PY
echo "bundle: $bundle (rootfs from busybox-static, config.json from limpet spec)"
