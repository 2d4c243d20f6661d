#!/usr/bin/env bash
# Fault test: the registry's disk fills up. Pushes must fail with a clear
# error, nothing already stored may be damaged, pulls keep working, pushes work
# again once space is freed, and fsck finds nothing wrong.
#
# Usage (as root: it mounts a small tmpfs): conformance/faults/disk-full.sh [path/to/sentinel-registry]
# Needs: curl, python3, mount/umount. Binds 127.0.0.1 only; cleans up after itself.
set -euo pipefail
# shellcheck source=../interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

binary=$(realpath "${1:-target/debug/sentinel-registry}")
work=$(mktemp -d)
disk="$work/disk"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  mountpoint -q "$disk" && umount "$disk"
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "fault disk-full: FAILED at step '$1'" >&2
  [ -f "$work/server.log" ] && tail -n 20 "$work/server.log" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (mounting a tmpfs needs it)"
mkdir -p "$disk"
mount -t tmpfs -o size=48m tmpfs "$disk" || fail "mount a 48 MiB tmpfs"


# push FILE REPO: monolithic push; prints the HTTP status, keeps the body in $work/response.
push() {
  local digest
  digest="sha256:$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1")"
  curl -s -o "$work/response" -w '%{http_code}' -X POST --data-binary "@$1" \
    -H 'Content-Type: application/octet-stream' "http://$addr/v2/$2/blobs/uploads/?digest=$digest"
}

data_dir="$disk/data" start_registry "$binary" "$work" || fail "start the registry"
head -c 1000000 /dev/urandom >"$work/small"
[ "$(push "$work/small" faults/kept)" = 201 ] || fail "push a blob while there is room"
small_digest="sha256:$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$work/small")"

# Fill the disk but 4 MB with a file we can delete later, then push 12 MB.
available=$(df --output=avail -B1 "$disk" | tail -n1)
head -c $((available - 4000000)) /dev/zero >"$disk/filler" || fail "fill the disk"
head -c 12000000 /dev/urandom >"$work/big"
status=$(push "$work/big" faults/full)
case "$status" in
  5??) ;;
  *) fail "a push that does not fit must fail with a 5xx (got $status: $(cat "$work/response"))" ;;
esac
grep -q '"code"' "$work/response" || fail "the failed push answers with the OCI error envelope (got $(cat "$work/response"))"
grep -qi 'space\|full' "$work/response" || fail "the error says the storage is full (got $(cat "$work/response"))"
echo "disk full: push answered $status: $(cat "$work/response")"

# Nothing already stored is damaged, and pulls keep working.
curl -sf "http://$addr/v2/faults/kept/blobs/$small_digest" -o "$work/pulled" || fail "pull while the disk is full"
cmp -s "$work/small" "$work/pulled" || fail "pulled bytes differ while the disk is full"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v2/")" = 200 ] || fail "the server keeps answering"

# Fill the disk to the last byte: even the metadata index cannot grow now.
head -c 100000000 /dev/zero >"$disk/filler2" 2>/dev/null || true
# manifest N: a 300 kB manifest (big enough to need new index pages) unique to N.
manifest() {
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":1000000},"layers":[],"annotations":{"n":"%s","padding":"%s"}}' \
    "$small_digest" "$1" "$(head -c 300000 /dev/zero | tr '\0' x)" >"$work/manifest.json"
}
for n in $(seq 1 20); do
  manifest "$n"
  status=$(curl -s -o "$work/response" -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/manifest.json" "http://$addr/v2/faults/kept/manifests/full$n")
  case "$status" in
    201) ;;
    5??) break ;;
    *) fail "a manifest push on a full disk answers 201 or 5xx (got $status: $(cat "$work/response"))" ;;
  esac
done
echo "disk full: manifest pushes answered $status after $n tries: $(cat "$work/response")"
curl -sf "http://$addr/v2/faults/kept/blobs/$small_digest" -o "$work/pulled" || fail "pull while the index cannot grow"

# Free space: pushes work again, without a restart.
rm -f "$disk/filler" "$disk/filler2"
[ "$(push "$work/big" faults/full)" = 201 ] || fail "blob push after space was freed (got $(cat "$work/response"))"
manifest after
status=$(curl -s -o "$work/response" -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$work/manifest.json" "http://$addr/v2/faults/kept/manifests/after")
[ "$status" = 201 ] || fail "manifest push after space was freed (got $status: $(cat "$work/response"))"

kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=
"$binary" fsck --data-dir "$disk/data" >"$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; fail "fsck after the disk was full"; }
echo "fault disk-full: clear error when full, stored data intact, pushes resume when space is freed, fsck clean: ok"
