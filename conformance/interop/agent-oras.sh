#!/usr/bin/env bash
# Interop: the `agent` CLI and oras-py (PyPI `oras`) on the same registry.
#   1. `agent push` a package; oras-py pulls it and gets the .agent.sntl file
#      by its title annotation, byte-identical to the layer digest, and sees
#      the manifest's artifactType and config media type.
#   2. oras-py pushes a package with Sentinel media types (its push() has no
#      artifactType argument, so the manifest carries only the config media
#      type); `agent pull` accepts it, verifies it and extracts the same files.
#
# Usage: conformance/interop/agent-oras.sh [sentinel-registry] [agent]
# Binds 127.0.0.1 only; cleans up after itself.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

registry_binary=${1:-target/debug/sentinel-registry}
agent_binary=$(realpath "${2:-target/debug/agent}")
start_work "interop agent+oras-py"

python3 -c 'import oras.client' 2>/dev/null || fail "import oras-py (pip install oras)"
start_registry "$registry_binary" "$work" || fail "start the registry"

# An isolated agent home: nothing from the user's configuration or store.
agent() {
  env -i PATH="$PATH" HOME="$work/home" AGENT_CONFIG_DIR="$work/home/config" \
    AGENT_STORE="$work/home/store" DOCKER_CONFIG="$work/home/docker" \
    "$agent_binary" "$@"
}
mkdir -p "$work/home"

# --- 1. agent pushes, oras-py pulls ---------------------------------------
mkdir -p "$work/hello/prompts"
cat >"$work/hello/agent.yaml" <<'YAML'
name: hello
version: 0.1.0
description: Interop test agent
author: Interop <interop@example.com>
capabilities: [greet]
YAML
echo "Say hello." >"$work/hello/prompts/system.md"
agent push "$addr/interop/hello:0.1.0" "$work/hello" --quiet >"$work/push.out" || fail "agent push"

timeout 60 python3 - "$addr" "$work" <<'PY' || fail "oras-py pulls what agent pushed"
import hashlib, json, os, sys
import oras.client
addr, work = sys.argv[1], sys.argv[2]
client = oras.client.OrasClient(hostname=addr, insecure=True)
target = f"{addr}/interop/hello:0.1.0"
manifest = client.get_manifest(target)
assert manifest["artifactType"] == "application/x-sentinel-agent", manifest
assert manifest["config"]["mediaType"] == "application/x-sentinel-agent-def+yaml", manifest
layer = manifest["layers"][0]
assert layer["mediaType"] == "application/x-sentinel-agent", layer
title = layer["annotations"]["org.opencontainers.image.title"]
assert title == "hello-0.1.0.agent.sntl", title
out = os.path.join(work, "oras-pull")
files = client.pull(target=target, outdir=out)
path = os.path.join(out, title)
assert path in files or os.path.exists(path), files
data = open(path, "rb").read()
assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"], "digest"
assert data[:14] == b"SNTL-AGENT-PKG", data[:14]
print("oras-py pulled", title, len(data), "bytes")
PY

# --- 2. oras-py pushes with Sentinel media types, agent pulls ---------------
sed -i 's/^version: 0.1.0/version: 0.2.0/' "$work/hello/agent.yaml"
(cd "$work" && agent pack hello -o hello-0.2.0.agent.sntl >/dev/null) || fail "agent pack"
cp "$work/hello/agent.yaml" "$work/agent.yaml"
timeout 60 python3 - "$addr" "$work" <<'PY' || fail "oras-py pushes a package"
import os, sys
import oras.client
addr, work = sys.argv[1], sys.argv[2]
os.chdir(work)
client = oras.client.OrasClient(hostname=addr, insecure=True)
client.push(
    target=f"{addr}/interop/from-oras:0.2.0",
    files=["hello-0.2.0.agent.sntl:application/x-sentinel-agent"],
    manifest_config="agent.yaml:application/x-sentinel-agent-def+yaml",
)
print("oras-py pushed interop/from-oras:0.2.0")
PY
agent pull "$addr/interop/from-oras:0.2.0" -d "$work/from-oras" >"$work/pull.out" || fail "agent pull of what oras-py pushed"
diff -r "$work/hello" "$work/from-oras" || fail "extracted files differ"
agent images | grep -q "interop/from-oras:0.2.0" || fail "agent images lists the pull"
echo "interop agent+oras-py: OK"
