#!/usr/bin/env bash
# Interop: containerd (ctr, the Kubernetes pull path) against a real
# sentinel-registry. skopeo pushes a runnable image built with umoci (a static
# busybox, a script, random data); ctr pulls it (same manifest digest, every
# blob checked), runs it under runc (expected output, including a checksum of
# the data file taken inside the container), and pushes it to a new
# repository: the manifest digest must be unchanged, and the blobs, which the
# registry already has, must be mounted or skipped, never uploaded again.
#
# Usage: conformance/interop/containerd.sh [path/to/sentinel-registry]
# Needs (Debian): containerd runc skopeo umoci busybox-static jq curl (root).
# Binds 127.0.0.1 only; containerd's root, state, sockets and config live in a
# temporary directory; cleans up after itself. KEEP=1 keeps that directory.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
[ -x "$binary" ] || {
  echo "interop containerd: FAILED at step 'find the registry binary $binary' (build it: cargo build -p sentinel-registry)" >&2
  exit 1
}
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
work=$(mktemp -d /tmp/sentinel-containerd.XXXXXX)
ns=sentinel-interop
server_pid=
containerd_pid=
cleanup() {
  set +e
  if [ -n "$containerd_pid" ]; then
    # Tasks left by an interrupted run: kill and delete them through containerd.
    for task in $(ctr -a "$work/containerd.sock" -n "$ns" tasks ls -q 2>/dev/null); do
      ctr -a "$work/containerd.sock" -n "$ns" tasks kill -s SIGKILL "$task" >/dev/null 2>&1
      sleep 0.2
      ctr -a "$work/containerd.sock" -n "$ns" tasks delete -f "$task" >/dev/null 2>&1
    done
  fi
  # Containers whose manager is gone: runc itself kills them and removes
  # their cgroups (runc's state is in the work dir).
  stop_containerd "$work/runc"
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  unmount_and_remove_work
}
trap cleanup EXIT

client=setup
# fail STEP [FILE]: names the client and the step, shows the client's output
# (FILE) and the registry's last requests, and exits non-zero.
fail() {
  report_failure "interop containerd" "$1" "${2:-}"
  if [ "$client" = ctr ] && [ -f "$work/containerd.log" ]; then
    echo "--- containerd log:" >&2
    grep -E 'level=(error|warning)' "$work/containerd.log" | tail -n 10 >&2
  fi
  exit 1
}
# step NAME CMD...: runs CMD with its output in $work/out, fails with it.
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}
sha256() { sha256sum "$@" | cut -d' ' -f1; }

for tool in containerd ctr containerd-shim-runc-v2 runc skopeo umoci jq curl sha256sum; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool on PATH (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (containerd)"
busybox=
for candidate in "${BUSYBOX:-}" /bin/busybox /usr/bin/busybox; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] &&
    { LC_ALL=C ldd "$candidate" 2>&1 || true; } | grep -q 'not a dynamic executable'; then
    busybox=$candidate
    break
  fi
done
[ -n "$busybox" ] || fail "find a static busybox (apt-get install busybox-static, or set BUSYBOX=)"

# Start the registry on a free port and read the address it prints.
client=sentinel-registry
start_registry "$binary" "$work" || fail "start the registry"

# containerd with everything of its own in the work dir; no CRI plugin.
client=containerd
cd "$work"
mkdir -p "$work/certs.d" "$work/fifo" "$work/runc"
# The shims' sockets go to /run/containerd/s/ whatever the config says
# (containerd 1.6); each is removed when its shim exits.
# ctr mounts the image's rootfs under $TMPDIR to read /etc/group.
export TMPDIR=$work/containerd/tmp
start_containerd "$TMPDIR" || fail "$start_failure" "$work/containerd.log"
ctr() { command ctr -a "$work/containerd.sock" -n "$ns" "$@"; }

# Another client pushes first: skopeo, an image built with umoci. skopeo's
# machine-wide blob-info cache would make later pushes cross-repository mounts
# by itself; it gets a private one in a mount namespace.
client=umoci
mkdir -p /var/lib/containers/cache "$work/blob-info-cache"
skopeo() {
  unshare --mount --propagation private sh -c \
    'mount --bind "$1" /var/lib/containers/cache && shift && exec skopeo "$@"' sh "$work/blob-info-cache" "$@"
}
step "umoci init" umoci init --layout L
step "umoci new" umoci new --image L:v1
step "umoci unpack" umoci unpack --image L:v1 B
mkdir -p B/rootfs/bin
cp "$busybox" B/rootfs/bin/busybox
ln -s busybox B/rootfs/bin/sh
head -c 1000000 /dev/urandom >B/rootfs/data.bin
data_sum=$(sha256 B/rootfs/data.bin)
cat >B/rootfs/hello.sh <<'EOF'
#!/bin/sh
echo "hello from sentinel via containerd"
/bin/busybox sha256sum /data.bin
EOF
chmod +x B/rootfs/hello.sh
step "umoci repack" umoci repack --image L:v1 B
step "umoci config" umoci config --image L:v1 --config.cmd /hello.sh --config.env PATH=/bin
step "umoci gc" umoci gc --layout L
client=skopeo
step "skopeo copy (push)" skopeo copy --dest-tls-verify=false --digestfile "$work/pushed.digest" \
  oci:L:v1 "docker://$addr/interop/containerd:v1"
pushed=$(cat "$work/pushed.digest")
case "$pushed" in sha256:????????????????????????????????????????????????????????????????) ;; *) fail "skopeo copy --digestfile (got '$pushed')" ;; esac

# ctr pulls it: same manifest digest, all content present and verified.
client=ctr
ref="$addr/interop/containerd:v1"
step "ctr images pull --plain-http" ctr images pull --plain-http --hosts-dir "$work/certs.d" "$ref"
got=$(ctr images ls 2>"$work/out" | awk -v r="$ref" '$1 == r {print $3}') || fail "ctr images ls" "$work/out"
[ "$got" = "$pushed" ] || fail "ctr images ls digest '$got', skopeo pushed $pushed"
step "ctr images check" ctr images check "name==$ref"
grep -q 'complete' "$work/out" || fail "ctr images check (content incomplete)" "$work/out"
# Every blob in containerd's content store is byte-identical to the registry's.
ctr content get "$pushed" >"$work/manifest.json" 2>"$work/out" || fail "ctr content get manifest" "$work/out"
[ "sha256:$(sha256 "$work/manifest.json")" = "$pushed" ] || fail "containerd's manifest bytes do not hash to $pushed"
blobs="$(jq -r .config.digest "$work/manifest.json") $(jq -r '.layers[].digest' "$work/manifest.json")"
nblobs=0
for blob in $blobs; do
  ctr content get "$blob" >"$work/blob.local" 2>"$work/out" || fail "ctr content get $blob" "$work/out"
  code=$(curl -sS -o "$work/blob.remote" -w '%{http_code}' "http://$addr/v2/interop/containerd/blobs/$blob") ||
    fail "GET blob $blob (curl)"
  [ "$code" = 200 ] || fail "GET /v2/interop/containerd/blobs/$blob: status $code: $(head -c 300 "$work/blob.remote")"
  cmp -s "$work/blob.local" "$work/blob.remote" || fail "blob $blob: containerd's copy differs from the registry's"
  [ "sha256:$(sha256 "$work/blob.local")" = "$blob" ] || fail "blob $blob does not hash to its digest"
  nblobs=$((nblobs + 1))
done

# ... and runs it under runc.
# --cgroup "": the container's cgroup is named after its ID, unique per run
# (runc removes it with the container).
ctr run --rm --runc-root "$work/runc" --fifo-dir "$work/fifo" --cgroup "" "$ref" "$(basename "$work")" >"$work/run.out" 2>&1 ||
  fail "ctr run --rm" "$work/run.out"
grep -qx 'hello from sentinel via containerd' "$work/run.out" || fail "ctr run output (no greeting)" "$work/run.out"
grep -q "^$data_sum  /data.bin" "$work/run.out" || fail "ctr run output (data.bin checksum is not $data_sum)" "$work/run.out"

# ctr pushes it to a new repository of the same registry.
copy="$addr/interop/containerd-copy:v1"
mark=$(wc -l <"$work/server.log")
ctr images push --plain-http --hosts-dir "$work/certs.d" --http-dump "$copy" "$ref" >"$work/push.out" 2>&1 ||
  fail "ctr images push --plain-http (new repository)" "$work/push.out"
code=$(curl -sS -D "$work/copy.headers" -o "$work/copy.json" -w '%{http_code}' \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$addr/v2/interop/containerd-copy/manifests/v1") ||
  fail "GET manifest of the pushed copy (curl)"
[ "$code" = 200 ] || fail "GET /v2/interop/containerd-copy/manifests/v1: status $code: $(cat "$work/copy.json")"
cmp -s "$work/copy.json" "$work/manifest.json" || fail "the copy's manifest bytes differ from the pulled manifest"
header=$(grep -i '^docker-content-digest:' "$work/copy.headers" | tr -d '\r' | awk '{print $2}') || true
[ "$header" = "$pushed" ] || fail "the copy's Docker-Content-Digest is '$header', expected $pushed"
for blob in $blobs; do
  curl -sS -o "$work/blob.remote" "http://$addr/v2/interop/containerd-copy/blobs/$blob" || fail "GET copy blob $blob"
  [ "sha256:$(sha256 "$work/blob.remote")" = "$blob" ] || fail "copy blob $blob: registry serves other bytes"
done

# The registry already had every blob: ctr must have skipped (HEAD 200) or
# mounted (POST .../blobs/uploads/ answered 201) each, and uploaded none.
tail -n +"$((mark + 1))" "$work/server.log" | grep 'sentinel::access' |
  grep 'uri="/v2/interop/containerd-copy/' >"$work/push.requests" || true
uploads=$(grep -cE 'method=(PATCH|PUT) uri="/v2/interop/containerd-copy/blobs/uploads/' "$work/push.requests" || true)
mounted=$(grep -cE 'method=POST uri="/v2/interop/containerd-copy/blobs/uploads/\?[^"]*mount=[^"]*" status=201' "$work/push.requests" || true)
skipped=$(grep -cE 'method=HEAD uri="/v2/interop/containerd-copy/blobs/sha256:[0-9a-f]+" status=200' "$work/push.requests" || true)
mount_queries=$(grep -coE 'POST /v2/interop/containerd-copy/blobs/uploads/\?[^ ]*mount=' "$work/push.out" || true)
if [ "$uploads" != 0 ] || [ "$((mounted + skipped))" -lt "$nblobs" ]; then
  cp "$work/push.requests" "$work/out"
  fail "ctr push to a new repository re-uploaded blobs ($uploads upload requests, $mounted mounts, $skipped skips for $nblobs blobs)" "$work/out"
fi

echo "interop containerd: skopeo push ($pushed), ctr pull ($nblobs blobs byte-identical), ctr run under runc, ctr push to a new repository (same digest; $mounted blob(s) mounted, $skipped skipped, 0 re-uploaded; $mount_queries mount request(s) seen in ctr's dump): ok"
