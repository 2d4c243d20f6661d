#!/usr/bin/env bash
# Interop: docker (dockerd 20.10 started by hand, on a containerd of its own)
# against a real sentinel-registry. No Docker Hub: images are `docker import`ed
# from rootfs tarballs (a static busybox, a script, random data).
#  1. docker pushes an image (Docker schema 2), removes it, pulls it back: same
#     manifest digest and image ID; the registry serves the pushed bytes; the
#     image runs (--network none) with the expected output. Pushed again to a
#     new repository, its layer must be mounted, not uploaded again.
#  2. A manifest list of two single-platform images pushed by docker
#     (linux/amd64 and linux/arm64), made twice: by `docker manifest
#     create/push`, and by hand (a Docker manifest list PUT with curl).
#     `docker pull --platform` of each platform must select that platform's
#     manifest (image ID, and the registry's log of manifest GETs).
#
# Usage: conformance/interop/docker.sh [path/to/sentinel-registry]
# Needs (Debian): docker.io (dockerd, docker CLI) containerd runc busybox-static
# jq curl (root). Binds 127.0.0.1 only; dockerd's data-root, exec-root,
# pidfile, socket, CLI config, and containerd's root, state and sockets live in
# a temporary directory; cleans up after itself. KEEP=1 keeps that directory.
# DOCKER_CLI picks the CLI (default: the docker.io package's /usr/bin/docker).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
[ -x "$binary" ] || {
  echo "interop docker: FAILED at step 'find the registry binary $binary' (build it: cargo build -p sentinel-registry)" >&2
  exit 1
}
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
docker_cli=${DOCKER_CLI:-/usr/bin/docker}
work=$(mktemp -d /tmp/sentinel-docker.XXXXXX)
# Containers' cgroups go under a parent of this run's own, removed on exit.
cgroup_parent=$(basename "$work")
server_pid=
containerd_pid=
dockerd_pid=
cleanup() {
  set +e
  stop_dockerd
  # Containers whose manager is gone: runc itself kills them and removes
  # their cgroups (runc's state is in the work dir).
  stop_containerd "$work/docker/exec/runtime-runc"
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for dir in /sys/fs/cgroup/*/"$cgroup_parent"; do
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
  done
  unmount_and_remove_work
}
trap cleanup EXIT

client=setup
# fail STEP [FILE]: names the client and the step, shows the client's output
# (FILE) and the registry's last requests, and exits non-zero.
fail() {
  report_failure "interop docker" "$1" "${2:-}"
  if [ "$client" = docker ] && [ -f "$work/dockerd.log" ]; then
    echo "--- dockerd log (errors):" >&2
    grep -E 'level=(error|fatal)' "$work/dockerd.log" | tail -n 10 >&2
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
docker() { "$docker_cli" "$@"; }

for tool in dockerd "$docker_cli" containerd containerd-shim-runc-v2 runc jq curl sha256sum gzip; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (dockerd)"
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
cd "$work"
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp

# containerd for dockerd, everything in the work dir, no CRI plugin. (dockerd
# would otherwise start one of its own as a child.)
client=containerd
start_containerd "$work/tmp" || fail "$start_failure" "$work/containerd.log"

# dockerd: no bridge, no iptables, no forwarding; the registry is insecure.
# (deprecated-key-path: dockerd 20.10 otherwise writes /etc/docker/key.json.)
client=docker
start_dockerd sentinel-interop '"insecure-registries": ["'"$addr"'"],
  "cgroup-parent": "/'"$cgroup_parent"'",
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}},' ||
  fail "$start_failure" "$work/dockerd.log"
export DOCKER_HOST=unix://$work/docker.sock
export DOCKER_CONFIG=$work/docker-cli
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"

# Rootfs tarballs: busybox, a script printing the platform it was built as,
# and random data whose checksum the container prints.
make_rootfs() { # make_rootfs NAME PLATFORM
  mkdir -p "$1/bin"
  cp "$busybox" "$1/bin/busybox"
  ln -s busybox "$1/bin/sh"
  head -c 1000000 /dev/urandom >"$1/data.bin"
  cat >"$1/hello.sh" <<EOF
#!/bin/sh
echo "hello from sentinel via docker ($2)"
/bin/busybox sha256sum /data.bin
EOF
  chmod +x "$1/hello.sh"
  tar -C "$1" -cf "$1.tar" .
}
make_rootfs amd64 linux/amd64
make_rootfs arm64 linux/arm64
data_sum=$(sha256 amd64/data.bin)
repo="$addr/interop/docker"

# 1. push, remove, pull, compare, run.
step "docker import (linux/amd64)" docker import --platform linux/amd64 \
  --change 'CMD ["/hello.sh"]' --change 'ENV PATH=/bin' amd64.tar "$repo:amd64"
id_amd64=$(docker image inspect --format '{{.Id}}' "$repo:amd64" 2>"$work/out") || fail "docker image inspect" "$work/out"
step "docker push (linux/amd64)" docker push "$repo:amd64"
pushed=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$work/out" | cut -d' ' -f2) || true
[ -n "$pushed" ] || fail "docker push printed no digest" "$work/out"

# The registry serves the pushed bytes: a Docker schema 2 manifest, every blob
# hashing to its digest, the layer uncompressing to docker's own layer.
check_manifest() { # check_manifest REF DIGEST MEDIATYPE OUT
  local code ctype header
  code=$(curl -sS -D "$4.headers" -o "$4" -w '%{http_code}' -H "Accept: $3" "http://$addr/v2/interop/docker/manifests/$1") ||
    fail "GET /v2/interop/docker/manifests/$1 (curl)"
  [ "$code" = 200 ] || fail "GET /v2/interop/docker/manifests/$1: status $code: $(cat "$4")"
  [ "sha256:$(sha256 "$4")" = "$2" ] || fail "GET manifests/$1: bytes hash to sha256:$(sha256 "$4"), expected $2"
  header=$(grep -i '^docker-content-digest:' "$4.headers" | tr -d '\r' | awk '{print $2}') || true
  [ "$header" = "$2" ] || fail "GET manifests/$1: Docker-Content-Digest '$header', expected $2"
  ctype=$(grep -i '^content-type:' "$4.headers" | tr -d '\r' | awk '{print $2}') || true
  [ "$ctype" = "$3" ] || fail "GET manifests/$1: Content-Type '$ctype', expected $3"
}
schema2=application/vnd.docker.distribution.manifest.v2+json
list_type=application/vnd.docker.distribution.manifest.list.v2+json
client=curl
check_manifest amd64 "$pushed" "$schema2" "$work/amd64.manifest"
config=$(jq -r .config.digest amd64.manifest)
[ "$config" = "$id_amd64" ] || fail "pushed config $config is not docker's image ID $id_amd64"
for blob in $config $(jq -r '.layers[].digest' amd64.manifest); do
  code=$(curl -sS -o blob -w '%{http_code}' "http://$addr/v2/interop/docker/blobs/$blob") || fail "GET blob $blob (curl)"
  [ "$code" = 200 ] || fail "GET /v2/interop/docker/blobs/$blob: status $code: $(head -c 300 blob)"
  [ "sha256:$(sha256 blob)" = "$blob" ] || fail "blob $blob: served bytes hash differently"
done
layer=$(jq -r '.layers[0].digest' amd64.manifest)
diff_id="sha256:$(curl -sS "http://$addr/v2/interop/docker/blobs/$layer" | gzip -dc | sha256sum | cut -d' ' -f1 || true)"
[ "$diff_id" = "sha256:$(sha256 amd64.tar)" ] || fail "layer $layer uncompresses to $diff_id, not the imported tarball"

client=docker
step "docker rmi" docker rmi "$repo:amd64"
docker image inspect "$id_amd64" >/dev/null 2>&1 && fail "image still present after docker rmi"
step "docker pull" docker pull "$repo:amd64"
grep -q "Digest: $pushed" "$work/out" || fail "docker pull reported another digest (pushed $pushed)" "$work/out"
[ "$(docker image inspect --format '{{.Id}}' "$repo:amd64")" = "$id_amd64" ] || fail "pulled image ID differs from the pushed one"
repo_digests=$(docker image inspect --format '{{join .RepoDigests " "}}' "$repo:amd64" 2>"$work/out") ||
  fail "docker image inspect" "$work/out"
case " $repo_digests " in *" $repo@$pushed "*) ;; *) fail "RepoDigests '$repo_digests' lack $repo@$pushed" ;; esac
timeout 120 "$docker_cli" run --rm --network none "$repo:amd64" >run.out 2>&1 || fail "docker run --network none" run.out
grep -qx 'hello from sentinel via docker (linux/amd64)' run.out || fail "docker run output (no greeting)" run.out
grep -q "^$data_sum  /data.bin" run.out || fail "docker run output (data.bin checksum is not $data_sum)" run.out

# The same image to a new repository: docker mounts what the registry has.
mark=$(wc -l <"$work/server.log")
step "docker tag" docker tag "$repo:amd64" "$addr/interop/docker-copy:amd64"
step "docker push (new repository)" docker push "$addr/interop/docker-copy:amd64"
copied=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$work/out" | cut -d' ' -f2) || true
[ "$copied" = "$pushed" ] || fail "docker push to a new repository: digest '$copied', expected $pushed" "$work/out"
# The layer must be mounted (POST .../blobs/uploads/ answered 201), not sent
# again. dockerd 20.10 does not try to mount the config blob: it uploads it
# again (a few hundred bytes).
tail -n +"$((mark + 1))" "$work/server.log" | grep 'uri="/v2/interop/docker-copy/' >copy.requests || true
copy_mounts=$(grep -c 'method=POST uri="/v2/interop/docker-copy/blobs/uploads/?[^"]*mount=[^"]*" status=201' copy.requests || true)
copy_uploads=$(grep -c 'method=PUT uri="/v2/interop/docker-copy/blobs/uploads/' copy.requests || true)
nlayers=$(jq '.layers | length' amd64.manifest)
if [ "$copy_mounts" != "$nlayers" ] || [ "$copy_uploads" -gt 1 ]; then
  cp copy.requests "$work/out"
  fail "docker push to a new repository: $copy_mounts layer mount(s) for $nlayers layer(s), $copy_uploads upload(s) (only the config may be uploaded)" "$work/out"
fi

# 2. A second platform, pushed by docker too. dockerd 20.10 ignores `docker
# import --platform` unless it runs with "experimental": the image is made as
# a docker-archive (config naming arm64, the rootfs tarball as its layer) and
# `docker load`ed.
layer_arm64=$(sha256 arm64.tar)
mkdir -p archive/"$layer_arm64"
cp arm64.tar archive/"$layer_arm64"/layer.tar
jq -cn --arg d "sha256:$layer_arm64" '{architecture: "arm64", variant: "v8", os: "linux",
  created: "2024-01-01T00:00:00Z", config: {Cmd: ["/hello.sh"], Env: ["PATH=/bin"]},
  rootfs: {type: "layers", diff_ids: [$d]}, history: [{created: "2024-01-01T00:00:00Z", created_by: "sentinel interop"}]}' >config.json
id_arm64="sha256:$(sha256 config.json)"
mv config.json "archive/${id_arm64#sha256:}.json"
jq -cn --arg c "${id_arm64#sha256:}.json" --arg t "$repo:arm64" --arg l "$layer_arm64/layer.tar" \
  '[{Config: $c, RepoTags: [$t], Layers: [$l]}]' >archive/manifest.json
tar -C archive -cf arm64-image.tar .
step "docker load (linux/arm64 image)" docker load -i arm64-image.tar
[ "$(docker image inspect --format '{{.Id}}' "$repo:arm64")" = "$id_arm64" ] || fail "docker load: image ID is not the config's digest"
arch=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$repo:arm64" 2>"$work/out") ||
  fail "docker image inspect" "$work/out"
[ "$arch" = linux/arm64 ] || fail "docker load made a $arch image, not linux/arm64"
step "docker push (linux/arm64)" docker push "$repo:arm64"
pushed_arm64=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$work/out" | cut -d' ' -f2) || true
[ -n "$pushed_arm64" ] || fail "docker push printed no digest" "$work/out"
client=curl
check_manifest arm64 "$pushed_arm64" "$schema2" "$work/arm64.manifest"

# pull_platform TAG PLATFORM MANIFEST_DIGEST OTHER_DIGEST IMAGE_ID: a fresh
# pull of the list for PLATFORM yields that platform's image (its config, the
# image ID) and never fetches the other platform's manifest. (dockerd 20.10
# keeps manifests it has seen in containerd's content store, so the platform
# manifest itself is fetched again only if that cache was collected.)
fetched=0
pull_platform() {
  client=docker
  for id in "$id_amd64" "$id_arm64"; do
    docker image rm -f "$id" >/dev/null 2>&1 || true
  done
  local mark id
  mark=$(wc -l <"$work/server.log")
  step "docker pull --platform $2 $1" docker pull --platform "$2" "$repo:$1"
  id=$(docker image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' "$repo:$1" 2>&1) || true
  [ "$id" = "$5 $2" ] || fail "docker pull --platform $2 $1: got image '$id', expected '$5 $2'"
  tail -n +"$((mark + 1))" "$work/server.log" >pull.requests
  grep -qE "method=(GET|HEAD) uri=\"/v2/interop/docker/manifests/$1\" status=200" pull.requests ||
    fail "docker pull --platform $2 $1: the list was not resolved at the registry" pull.requests
  ! grep -q "uri=\"/v2/interop/docker/manifests/$4\"" pull.requests ||
    fail "docker pull --platform $2 $1: fetched the other platform's manifest $4" pull.requests
  if grep -q "method=GET uri=\"/v2/interop/docker/manifests/$3\" status=200" pull.requests; then
    fetched=$((fetched + 1))
  fi
}

# 2a. docker manifest create/push (the CLI talks to the registry itself).
client=docker
step "docker manifest create" docker manifest create --insecure "$repo:multi" "$repo:amd64" "$repo:arm64"
step "docker manifest push" docker manifest push --insecure "$repo:multi"
cli_list=$(grep -o 'sha256:[0-9a-f]\{64\}' "$work/out" | tail -n1) || true
[ -n "$cli_list" ] || fail "docker manifest push printed no digest" "$work/out"
client=curl
check_manifest multi "$cli_list" "$list_type" "$work/multi.manifest"
for platform in amd64:"$pushed" arm64:"$pushed_arm64"; do
  got=$(jq -r --arg a "${platform%%:*}" '.manifests[] | select(.platform.architecture == $a) | .digest' multi.manifest)
  [ "$got" = "${platform#*:}" ] || fail "docker manifest push: the list's ${platform%%:*} entry is '$got', expected ${platform#*:}"
done
pull_platform multi linux/arm64 "$pushed_arm64" "$pushed" "$id_arm64"
pull_platform multi linux/amd64 "$pushed" "$pushed_arm64" "$id_amd64"

# 2b. The same list written by hand and PUT with curl.
client=curl
size_amd64=$(stat -c %s amd64.manifest)
size_arm64=$(stat -c %s arm64.manifest)
jq -cn --arg mt "$list_type" --arg m "$schema2" \
  --arg d1 "$pushed" --argjson s1 "$size_amd64" --arg d2 "$pushed_arm64" --argjson s2 "$size_arm64" \
  '{schemaVersion: 2, mediaType: $mt, manifests: [
     {mediaType: $m, digest: $d1, size: $s1, platform: {architecture: "amd64", os: "linux"}},
     {mediaType: $m, digest: $d2, size: $s2, platform: {architecture: "arm64", os: "linux", variant: "v8"}}]}' >list.json
list="sha256:$(sha256 list.json)"
code=$(curl -sS -o put.out -D put.headers -w '%{http_code}' -X PUT -H "Content-Type: $list_type" \
  --data-binary @list.json "http://$addr/v2/interop/docker/manifests/list") || fail "PUT manifest list (curl)"
[ "$code" = 201 ] || fail "PUT /v2/interop/docker/manifests/list ($list_type): status $code: $(cat put.out)"
header=$(grep -i '^docker-content-digest:' put.headers | tr -d '\r' | awk '{print $2}') || true
[ "$header" = "$list" ] || fail "PUT manifest list: Docker-Content-Digest '$header', expected $list"
check_manifest list "$list" "$list_type" "$work/list.served"
pull_platform list linux/arm64 "$pushed_arm64" "$pushed" "$id_arm64"
pull_platform list linux/amd64 "$pushed" "$pushed_arm64" "$id_amd64"
timeout 120 "$docker_cli" run --rm --network none "$repo:list" >run.out 2>&1 || fail "docker run (pulled by the list)" run.out
grep -qx 'hello from sentinel via docker (linux/amd64)' run.out || fail "docker run (pulled by the list) output" run.out

echo "interop docker: push/rmi/pull/run of a Docker schema 2 image ($pushed), push to a new repository ($copy_mounts layer mounted, $copy_uploads config re-uploaded), manifest lists by 'docker manifest' ($cli_list) and by curl ($list): --platform linux/amd64 and linux/arm64 select the right images (platform manifest fetched from the registry in $fetched of 4 pulls, else from dockerd's cache): ok"
