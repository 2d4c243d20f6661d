#!/usr/bin/env bash
# Interop: buildah builds an image from scratch (a static busybox, a script
# and a random data file), pushes it to a real sentinel-registry; podman pulls
# it into a fresh, separate storage, and the pulled image must have the pushed
# manifest digest, the pushed config (image ID), and run under runc with the
# expected output (including a checksum of the data file taken inside the
# container).
#
# Usage: conformance/interop/podman.sh [path/to/sentinel-registry]
# Needs (Debian): buildah podman runc busybox-static jq curl (root). The static
# busybox is /bin/busybox from busybox-static (or BUSYBOX=/path/to/static).
# Binds 127.0.0.1 only; the storages, configs, engine tmp dir, events log and
# blob-info cache live in a temporary directory (runc's per-container state
# in /run/runc/ID is removed with the container); cleans up after itself.
# KEEP=1 keeps that directory.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
[ -x "$binary" ] || {
  echo "interop podman: FAILED at step 'find the registry binary $binary' (build it: cargo build -p sentinel-registry)" >&2
  exit 1
}
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
work=$(mktemp -d /tmp/sentinel-podman.XXXXXX)
# The container's cgroup goes under a parent of this run's own (runc removes
# the container's; the parent is removed on exit). No cgroup for conmon.
cgroup_parent=$(basename "$work")
server_pid=
cleanup() {
  set +e
  # A container left running by an interrupted run (conmon daemonizes, so it
  # is not our child): podman removes it, with its conmon and processes.
  if [ -n "$(ls -A "$work/pull/root/vfs-containers" 2>/dev/null)" ]; then
    CONTAINERS_STORAGE_CONF=$work/pull/storage.conf podman rm -f -a -t 0 >/dev/null 2>&1
  fi
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for dir in /sys/fs/cgroup/*/"$cgroup_parent"; do
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
  done
  # podman's per-container shm is a tmpfs under the storage root: unmount
  # anything left under the work dir (deepest first) before removing it.
  unmount_and_remove_work
}
trap cleanup EXIT

client=setup
# fail STEP [FILE]: names the client and the step, shows the client's output
# (FILE) and the registry's last requests, and exits non-zero.
fail() {
  report_failure "interop podman" "$1" "${2:-}"
  exit 1
}
# step NAME CMD...: runs CMD with its output in $work/out, fails with it.
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}

for tool in buildah podman runc conmon jq curl sha256sum; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool on PATH (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (rootful buildah/podman with vfs storage)"
# A static binary to make the image runnable without any base image.
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

# Tool configuration, all of it in the work dir. Two separate storages: the
# builder's and a fresh one that podman pulls into.
cd "$work"
storage_conf() { # storage_conf NAME
  mkdir -p "$work/$1/run" "$work/$1/root"
  cat >"$work/$1/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$work/$1/run"
graphroot = "$work/$1/root"
EOF
}
storage_conf build
storage_conf pull
# network_backend "cni": the netavark backend (podman 4.3's pick on a fresh
# storage) creates /run/containers/networks whatever the config says; with
# --network=none no CNI plugin ever runs.
mkdir -p "$work/engine-tmp" "$work/net"
# Rootful podman puts RLIMIT_NOFILE and RLIMIT_NPROC = 1048576 into every
# container's spec; without CAP_SYS_RESOURCE (sandboxes, this CI) runc then
# fails with "error setting rlimit type 7" (nofile) or "type 6" (nproc: podman
# itself runs with a hard nproc of 32768 here, below the shell's). Small fixed
# limits are below any caller's and plenty for this container.
cat >"$work/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
cgroups = "no-conmon"
[engine]
tmp_dir = "$work/engine-tmp"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/engine-tmp/events.log"
lock_type = "file"
runtime = "runc"
[network]
network_backend = "cni"
network_config_dir = "$work/net"
EOF
cat >"$work/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$addr"
insecure = true
EOF
export CONTAINERS_CONF=$work/containers.conf
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf
export REGISTRY_AUTH_FILE=$work/auth.json
export TMPDIR=$work/engine-tmp
echo '{}' >"$REGISTRY_AUTH_FILE"
# Rootful buildah and podman keep their blob-info cache in the machine-wide
# /var/lib/containers/cache whatever the storage config says (buildah commit
# and push, podman pull write it; push picks cross-repository mounts from it):
# run both in a private mount namespace with a cache of their own.
mkdir -p /var/lib/containers/cache "$work/blob-info-cache"
private_cache() {
  unshare --mount --propagation private sh -c \
    'mount --bind "$1" /var/lib/containers/cache && shift && exec "$@"' sh "$work/blob-info-cache" "$@"
}
# Every call is bounded in time. (runc keeps a running container's state in
# /run/runc/ID, removed with the container; moving it with `podman
# --runtime-flag root=DIR` left the container's cgroup behind after --rm.)
buildah() { private_cache timeout 300 buildah "$@"; }
podman() { private_cache timeout 300 podman "$@"; }

# The image content: busybox (static), a script, and 1 MB of random data whose
# checksum the container must print.
mkdir -p rootfs/bin
cp "$busybox" rootfs/bin/busybox
ln -s busybox rootfs/bin/sh
head -c 1000000 /dev/urandom >rootfs/data.bin
data_sum=$(sha256sum rootfs/data.bin | cut -d' ' -f1)
cat >rootfs/hello.sh <<'EOF'
#!/bin/sh
echo "hello from sentinel via podman"
/bin/busybox sha256sum /data.bin
EOF
chmod +x rootfs/hello.sh
ref="$addr/interop/podman:v1"

# buildah: build from scratch and push.
client=buildah
export CONTAINERS_STORAGE_CONF=$work/build/storage.conf
step "buildah from scratch" buildah from --name interop-build scratch
step "buildah copy" buildah copy interop-build rootfs/ /
step "buildah config" buildah config --cmd '["/hello.sh"]' --env PATH=/bin interop-build
step "buildah commit" buildah commit --format oci --rm interop-build localhost/interop-podman:v1
image_id=$(buildah images --no-trunc --format '{{.ID}}' localhost/interop-podman:v1) || fail "buildah images"
image_id=${image_id#sha256:}
step "buildah push" buildah push --tls-verify=false --digestfile "$work/pushed.digest" \
  localhost/interop-podman:v1 "docker://$ref"
[ -s "$work/blob-info-cache/blob-info-cache-v1.boltdb" ] || fail "buildah push used a blob-info cache outside the work dir"
pushed=$(cat "$work/pushed.digest")
case "$pushed" in sha256:????????????????????????????????????????????????????????????????) ;; *) fail "buildah push --digestfile (got '$pushed')" ;; esac

# The registry serves exactly the manifest that was pushed, and every blob it
# references hashes to its digest; the config blob is the image buildah built.
client=curl
curl -sS -D "$work/manifest.headers" -o "$work/manifest.json" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$addr/v2/interop/podman/manifests/v1" >"$work/out" 2>&1 || fail "GET manifest" "$work/out"
grep -q '^HTTP/1.1 200' "$work/manifest.headers" || fail "GET manifest: $(head -n1 "$work/manifest.headers") $(cat "$work/manifest.json")"
served="sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
[ "$served" = "$pushed" ] || fail "manifest bytes hash to $served, buildah pushed $pushed"
header=$(grep -i '^docker-content-digest:' "$work/manifest.headers" | tr -d '\r' | awk '{print $2}') || true
[ "$header" = "$pushed" ] || fail "Docker-Content-Digest is '$header', buildah pushed $pushed"
config=$(jq -r .config.digest "$work/manifest.json")
[ "$config" = "sha256:$image_id" ] || fail "pushed config $config is not buildah's image sha256:$image_id"
ctype=$(grep -i '^content-type:' "$work/manifest.headers" | tr -d '\r' | awk '{print $2}') || true
[ "$ctype" = application/vnd.oci.image.manifest.v1+json ] || fail "GET manifest Content-Type is '$ctype'"
nlayers=$(jq '.layers | length' "$work/manifest.json")
[ "$nlayers" -ge 1 ] || fail "pushed manifest has no layers"
for blob in $config $(jq -r '.layers[].digest' "$work/manifest.json"); do
  code=$(curl -sS -o "$work/blob" -w '%{http_code}' "http://$addr/v2/interop/podman/blobs/$blob") || fail "GET blob $blob"
  [ "$code" = 200 ] || fail "GET blob $blob: status $code: $(head -c 300 "$work/blob")"
  [ "sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)" = "$blob" ] || fail "blob $blob: served bytes hash differently"
  [ "$blob" = "$config" ] && cp "$work/blob" "$work/config.json"
done
# Each layer, uncompressed, is byte for byte the layer buildah built (its
# diff_id in the config).
i=0
for blob in $(jq -r '.layers[].digest' "$work/manifest.json"); do
  want=$(jq -r ".rootfs.diff_ids[$i]" "$work/config.json")
  got="sha256:$(curl -sS "http://$addr/v2/interop/podman/blobs/$blob" | gzip -dc | sha256sum | cut -d' ' -f1 || true)"
  [ "$got" = "$want" ] || fail "layer $blob uncompresses to $got, buildah built diff_id $want"
  i=$((i + 1))
done

# podman: pull into the fresh storage (nothing shared with the builder's).
client=podman
export CONTAINERS_STORAGE_CONF=$work/pull/storage.conf
step "podman images (fresh storage is empty)" podman images -q
[ ! -s "$work/out" ] || fail "fresh storage is not empty" "$work/out"
step "podman pull" podman pull --tls-verify=false "$ref"
pulled_id=$(podman image inspect --format '{{.Id}}' "$ref" 2>"$work/out") || fail "podman image inspect" "$work/out"
pulled_digest=$(podman image inspect --format '{{.Digest}}' "$ref" 2>"$work/out") || fail "podman image inspect" "$work/out"
[ "$pulled_digest" = "$pushed" ] || fail "pulled manifest digest $pulled_digest, buildah pushed $pushed"
[ "$pulled_id" = "$image_id" ] || fail "pulled image ID $pulled_id, buildah built $image_id"
repo_digest=$(podman image inspect --format '{{join .RepoDigests " "}}' "$ref" 2>"$work/out") || fail "podman image inspect" "$work/out"
case " $repo_digest " in *" $addr/interop/podman@$pushed "*) ;; *) fail "RepoDigests '$repo_digest' lack $addr/interop/podman@$pushed" ;; esac
# Pull by digest too (a second GET, served from the same manifest).
step "podman pull by digest" podman pull --tls-verify=false "$addr/interop/podman@$pushed"

# ... and run it: its output proves the layer arrived byte for byte.
podman run --rm --runtime runc --network=none --cgroup-parent "/$cgroup_parent" "$ref" >"$work/run.out" 2>&1 ||
  fail "podman run --runtime runc --network=none" "$work/run.out"
grep -qx 'hello from sentinel via podman' "$work/run.out" || fail "podman run output (no greeting)" "$work/run.out"
grep -q "^$data_sum  /data.bin" "$work/run.out" || fail "podman run output (data.bin checksum is not $data_sum)" "$work/run.out"

echo "interop podman: buildah build+push ($nlayers layer(s), $pushed), podman pull into fresh storage (digest and image ID match), podman run under runc: ok"
