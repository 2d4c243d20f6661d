#!/usr/bin/env bash
# Interop: skopeo pushes a multi-layer OCI image (built with umoci) to a real
# sentinel-registry, pulls it back, and every blob must come back byte-identical.
# Also exercises inspect, list-tags and delete.
#
# Usage: conformance/interop/skopeo.sh [path/to/sentinel-registry]
# Needs: skopeo, umoci, jq, curl. Binds 127.0.0.1 only; cleans up after itself.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
start_work "interop skopeo"

# Start the registry on a free port and read the address it prints.
start_registry "$binary" "$work" || fail "start the registry"
registry="docker://$addr"

# A two-layer image with umoci.
cd "$work"
umoci init --layout L >/dev/null
umoci new --image L:v1 >/dev/null
umoci unpack --rootless --image L:v1 B >/dev/null
head -c 2000000 /dev/urandom >B/rootfs/data.bin
printf '#!/bin/sh\necho hello from sentinel\n' >B/rootfs/hi.sh
chmod +x B/rootfs/hi.sh
umoci repack --image L:v1 B >/dev/null
rm -rf B
umoci unpack --rootless --image L:v1 B >/dev/null
echo second >B/rootfs/second.txt
umoci repack --image L:v1 B >/dev/null
umoci config --image L:v1 --config.cmd /hi.sh >/dev/null
umoci gc --layout L
layers=$(skopeo inspect --raw oci:L:v1 | jq '.layers | length')
[ "$layers" -ge 2 ] || fail "build a multi-layer image (got $layers layers)"

skopeo copy -q --dest-tls-verify=false oci:L:v1 "$registry/interop/skopeo:v1" || fail "skopeo copy (push)"
skopeo copy -q --dest-tls-verify=false oci:L:v1 "$registry/interop/skopeo:v2" || fail "skopeo copy (push second tag)"
skopeo copy -q --src-tls-verify=false "$registry/interop/skopeo:v1" oci:OUT:v1 || fail "skopeo copy (pull)"

# A copy to another repository of the same registry mounts the layers (skopeo's
# blob-info cache knows where they are) instead of uploading them again; like
# docker, skopeo sends the small config blob again.
mark=$(wc -l <"$work/server.log")
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
  "$registry/interop/skopeo:v1" "$registry/interop/skopeo-copy:v1" || fail "skopeo copy (registry to registry)"
tail -n +"$((mark + 1))" "$work/server.log" | grep 'uri="/v2/interop/skopeo-copy/' >"$work/copy.requests" || true
mounted=$(grep -c 'method=POST uri="/v2/interop/skopeo-copy/blobs/uploads/?[^"]*mount=[^"]*" status=201' "$work/copy.requests" || true)
config_hex=$(skopeo inspect --raw oci:L:v1 | jq -r .config.digest | cut -d: -f2)
uploaded=$(grep -E 'method=PUT uri="/v2/interop/skopeo-copy/blobs/uploads/' "$work/copy.requests" | grep -vc "digest=sha256%3A$config_hex" || true)
[ "$uploaded" = 0 ] || fail "cross-repository copy uploaded $uploaded layer(s) again instead of mounting them"
[ "$mounted" -ge "$layers" ] || fail "cross-repository copy mounted $mounted blob(s), expected at least $layers"

# Every pulled blob is byte-identical to the original.
manifest=$(jq -r '.manifests[0].digest' OUT/index.json | cut -d: -f2)
[ "$(jq -r '.manifests[0].digest' L/index.json)" = "sha256:$manifest" ] || fail "manifest digest round trip"
for blob in OUT/blobs/sha256/*; do
  cmp -s "$blob" "L/blobs/sha256/$(basename "$blob")" || fail "blob $(basename "$blob") differs"
done
[ "$(ls OUT/blobs/sha256 | wc -l)" = "$(ls L/blobs/sha256 | wc -l)" ] || fail "blob count"

remote_digest=$(skopeo inspect --tls-verify=false "$registry/interop/skopeo:v1" | jq -r .Digest)
[ "$remote_digest" = "sha256:$manifest" ] || fail "skopeo inspect digest"
tags=$(skopeo list-tags --tls-verify=false "$registry/interop/skopeo" | jq -c .Tags)
[ "$tags" = '["v1","v2"]' ] || fail "skopeo list-tags (got $tags)"

# skopeo deletes by digest: both tags go with the manifest.
skopeo delete --tls-verify=false "$registry/interop/skopeo:v1" || fail "skopeo delete"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v2/interop/skopeo/manifests/v2")
[ "$status" = 404 ] || fail "manifest gone after delete (got $status)"

echo "interop skopeo: push, pull (byte-identical, $layers layers), copy to another repository ($mounted layers mounted, none uploaded again), inspect, list-tags, delete: ok"
