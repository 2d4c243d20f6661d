#!/usr/bin/env bash
# Interop: containerd (ctr, the Kubernetes pull path) against a
# sentinel-registry whose signature policy requires signatures on signed/*.
# skopeo pushes a small image (umoci, a static busybox) to signed/ok and
# signed/no; the example helper sign_manifest signs signed/ok with a key the
# policy trusts; then `ctr images pull --plain-http` succeeds for signed/ok
# and is refused (403, "signed/*: not signed by a trusted key") for
# signed/no. Authentication is off, so the policy applies to every read.
#
# Usage: conformance/interop/containerd-signed.sh [path/to/sentinel-registry [path/to/sign_manifest]]
# Build both: cargo build -p sentinel-registry --bin sentinel-registry --example sign_manifest
# Needs (Debian): containerd skopeo umoci busybox-static openssl jq curl (root).
# Binds 127.0.0.1 only; everything lives in a temporary directory.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
signer=${2:-target/debug/examples/sign_manifest}
for file in "$binary" "$signer"; do
  [ -x "$file" ] || {
    echo "interop containerd-signed: FAILED at step 'find $file' (cargo build -p sentinel-registry --bin sentinel-registry --example sign_manifest)" >&2
    exit 1
  }
done
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
signer=$(cd "$(dirname "$signer")" && pwd)/$(basename "$signer")
work=$(mktemp -d /tmp/sentinel-containerd-signed.XXXXXX)
ns=sentinel-signed
server_pid=
containerd_pid=
cleanup() {
  set +e
  stop_containerd
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  unmount_and_remove_work
}
trap cleanup EXIT

client=setup
fail() {
  report_failure "interop containerd-signed" "$1" "${2:-}"
  exit 1
}
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}

for tool in containerd ctr skopeo umoci openssl jq curl; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool on PATH (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (containerd)"
busybox=$(static_busybox) || fail "find a static busybox (apt-get install busybox-static, or set BUSYBOX=)"

# The key the registry trusts, and the policy in its configuration.
client=openssl
cd "$work"
step "openssl genpkey" openssl genpkey -algorithm ed25519 -out "$work/signer.pem"
step "openssl pkey -pubout" openssl pkey -in "$work/signer.pem" -pubout -out "$work/signer.pub"
cat >"$work/sentinel.toml" <<EOF
[[signature-policy]]
repositories = "signed/*"
require = true
keys = ["signer.pub"]
EOF

client=sentinel-registry
start_registry "$binary" "$work" --config "$work/sentinel.toml" || fail "start the registry"

# An image built with umoci, pushed twice by skopeo.
client=umoci
step "umoci init" umoci init --layout L
step "umoci new" umoci new --image L:v1
step "umoci unpack" umoci unpack --image L:v1 B
mkdir -p B/rootfs/bin
cp "$busybox" B/rootfs/bin/busybox
step "umoci repack" umoci repack --image L:v1 B
step "umoci gc" umoci gc --layout L
client=skopeo
mkdir -p /var/lib/containers/cache "$work/blob-info-cache"
for repo in signed/ok signed/no; do
  step "skopeo copy (push $repo)" with_blob_info_cache "$work/blob-info-cache" \
    skopeo copy --dest-tls-verify=false --digestfile "$work/pushed.digest" oci:L:v1 "docker://$addr/$repo:v1"
done
pushed=$(cat "$work/pushed.digest")
step "skopeo inspect --raw" skopeo inspect --raw oci:L:v1
cp "$work/out" "$work/manifest.json"
[ "sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)" = "$pushed" ] ||
  fail "the local manifest does not hash to the pushed digest $pushed"
media_type=$(jq -r .mediaType "$work/manifest.json")
size=$(wc -c <"$work/manifest.json")

# Unsigned: refused to everyone (authentication is off).
code=$(curl -sS -o "$work/refused.json" -w '%{http_code}' -H "Accept: $media_type" \
  "http://$addr/v2/signed/ok/manifests/v1") || fail "GET the unsigned manifest (curl)"
[ "$code" = 403 ] || fail "GET the unsigned manifest: status $code, wanted 403" "$work/refused.json"
grep -q 'signed/\*: not signed by a trusted key' "$work/refused.json" || fail "the refusal names the policy" "$work/refused.json"

# Sign signed/ok with the trusted key.
client=sign_manifest
step "sign signed/ok" "$signer" "$work/signer.pem" "http://$addr" signed/ok "$pushed" "$media_type" "$size"

# containerd pulls the signed image, and is refused the unsigned one.
client=containerd
mkdir -p "$work/certs.d"
export TMPDIR=$work/containerd/tmp
start_containerd "$TMPDIR" || fail "$start_failure" "$work/containerd.log"
ctr() { command ctr -a "$work/containerd.sock" -n "$ns" "$@"; }
client=ctr
step "ctr images pull --plain-http signed/ok" ctr images pull --plain-http --hosts-dir "$work/certs.d" "$addr/signed/ok:v1"
got=$(ctr images ls | awk -v r="$addr/signed/ok:v1" '$1 == r {print $3}')
[ "$got" = "$pushed" ] || fail "ctr images ls digest '$got', skopeo pushed $pushed"
if ctr images pull --plain-http --hosts-dir "$work/certs.d" "$addr/signed/no:v1" >"$work/refused.out" 2>&1; then
  fail "ctr images pull signed/no succeeded, but it is unsigned" "$work/refused.out"
fi
grep -qi '403\|forbidden\|denied' "$work/refused.out" || fail "ctr's refusal is not a 403" "$work/refused.out"
echo "interop containerd-signed: OK (ctr pulled signed/ok $pushed; signed/no refused: not signed by a trusted key)"
