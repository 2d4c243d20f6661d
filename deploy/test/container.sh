#!/usr/bin/env bash
# The container image, for real: builds the image of deploy/Dockerfile.prebuilt
# (the runtime stage of deploy/Dockerfile over binaries built on this host)
# with dockerd, runs it with authentication on and a named volume, and drives
# it with real clients.
#  0. The Debian base the Dockerfiles name (debian:bookworm-slim) cannot be
#     pulled here: it is made with `debootstrap --variant=minbase bookworm`
#     (cached, see CACHE below) and `docker import`ed under that name.
#  1. Both Dockerfiles carry the same runtime stage; the image runs as
#     10001:10001 with the data in a volume, listens on 0.0.0.0:5000 by
#     default (checked inside a --network none container), has a HEALTHCHECK
#     and STOPSIGNAL SIGTERM.
#  2. The registry container, as the Kubernetes pod runs it (read-only root
#     filesystem, no capabilities, no new privileges), on the host network at
#     127.0.0.1:PORT through SENTINEL_LISTEN (dockerd here has no bridge to
#     publish a port through): docker login/push/pull/run of a small image,
#     agent login/push/pull of a package. Its HEALTHCHECK turns healthy once
#     the registry serves /healthz.
#  3. docker stop (SIGTERM) while an upload is in flight: the upload is
#     acknowledged, the container exits 0 well within its 40 s grace period
#     and logs its shutdown.
#  4. A new container on the same volume: the admin, the image and the package
#     are still there (docker pull, agent pull after removing local copies;
#     containerd's ctr pulls with the plain-HTTP hosts.toml of
#     deploy/kubernetes/containerd/).
#  5. When the registry serves /metrics: every metric the Grafana dashboard
#     (deploy/grafana/sentinel.json) queries is in it.
#  6. compose.yaml brought up (on the host network) with the admin password
#     from its secret, and down.
#
# Usage: deploy/test/container.sh [sentinel-registry [agent]]
#   FULL_BUILD=1 builds the multi-stage deploy/Dockerfile instead, with a
#   stand-in for rust:1.90-bookworm made from the host's Rust toolchain (the
#   binaries given are then only used for agent on the host).
#   (default: target/debug/sentinel-registry and target/debug/agent; build
#   them on Debian bookworm or older glibc, e.g. `cargo build -p
#   sentinel-registry -p sentinel-agent-cli`)
# Needs (Debian, as root): docker.io containerd runc debootstrap
# busybox-static jq curl, and the network to Debian's package mirror the
# first time (debootstrap) and in the image build (apt-get of ca-certificates).
# CACHE (default /var/cache/sentinel-ci) keeps the debootstrapped base between
# runs; DEBIAN_MIRROR overrides the mirror read from apt's sources. Everything
# else (dockerd's data-root, exec-root, sockets, containerd's root and state,
# the CLI config, the agent's home) lives in a temporary directory removed on
# exit (KEEP=1 keeps it). Binds 127.0.0.1 only.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=conformance/interop/lib.sh
source "$repo_root/conformance/interop/lib.sh"

registry_binary=${1:-target/debug/sentinel-registry}
agent_binary=${2:-target/debug/agent}
cache=${CACHE:-/var/cache/sentinel-ci}
docker_cli=${DOCKER_CLI:-/usr/bin/docker}
image=sentinel-ci/registry:test
started=$(date +%s)

work=$(mktemp -d /tmp/sentinel-container.XXXXXX)
cgroup_parent=$(basename "$work")
containerd_pid=
dockerd_pid=
client=setup
cleanup() {
  set +e
  stop_dockerd
  # Containers whose manager is gone: runc itself kills them and removes
  # their cgroups (runc's state is in the work dir).
  stop_containerd "$work/docker/exec/runtime-runc"
  for dir in /sys/fs/cgroup/*/"$cgroup_parent" /sys/fs/cgroup/"$cgroup_parent"; do
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
  done
  unmount_and_remove_work
}
trap cleanup EXIT

fail() {
  echo "deploy container: FAILED at step '$1' (client: $client)" >&2
  if [ -n "${2:-}" ] && [ -s "$2" ]; then
    echo "--- $client output:" >&2
    tail -n 30 "$2" >&2
  fi
  if [ -n "$dockerd_pid" ]; then
    for c in sentinel sentinel-again; do
      if "$docker_cli" -H "unix://$work/docker.sock" inspect "$c" >/dev/null 2>&1; then
        echo "--- container $c log (last lines):" >&2
        "$docker_cli" -H "unix://$work/docker.sock" logs --tail 20 "$c" >&2 2>&1
      fi
    done
    if [ -f "$work/dockerd.log" ]; then
      echo "--- dockerd log (errors):" >&2
      grep -E 'level=(error|fatal)' "$work/dockerd.log" | tail -n 10 >&2
    fi
  fi
  exit 1
}
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}
docker() { "$docker_cli" "$@"; }
elapsed() { echo $(($(date +%s) - $1)); }

for tool in dockerd "$docker_cli" containerd containerd-shim-runc-v2 runc debootstrap jq curl flock strip; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (dockerd, debootstrap)"
for binary in "$registry_binary" "$agent_binary"; do
  [ -x "$binary" ] || fail "find the binary $binary (cargo build -p sentinel-registry -p sentinel-agent-cli)"
done
busybox=$(static_busybox) || fail "find a static busybox (apt-get install busybox-static, or set BUSYBOX=)"
mkdir -p "$work/tmp" "$cache"
export TMPDIR=$work/tmp

# --- 0. The base image: debootstrap once, then from the cache ---------------
client=debootstrap
base_tar=$cache/debian-bookworm-minbase.tar
base_made=cached
t0=$(date +%s)
(
  # One CI run builds it; another waits for it rather than building it twice.
  flock 9
  if [ ! -s "$base_tar" ]; then
    mirror=${DEBIAN_MIRROR:-}
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
      mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
      mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    fi
    [ -n "$mirror" ] || { echo "no Debian mirror in apt's sources: set DEBIAN_MIRROR" >&2; exit 1; }
    rootfs=$cache/rootfs.partial
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
    # What a slim image leaves out: apt's downloaded packages and lists.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -cf "$base_tar.partial" .
    mv "$base_tar.partial" "$base_tar"
    rm -rf "$rootfs"
  fi
) 9>"$cache/debian-bookworm-minbase.lock" >"$work/out" 2>&1 || fail "debootstrap --variant=minbase bookworm" "$work/out"
[ "$(elapsed "$t0")" -gt 2 ] && base_made="debootstrapped in $(elapsed "$t0") s"

# --- containerd and dockerd, all their state in $work -----------------------
client=containerd
start_containerd "$work/tmp" || fail "$start_failure" "$work/containerd.log"

# No bridge, no iptables: containers run with --network host (the registry,
# bound to 127.0.0.1) or --network none.
client=docker
start_dockerd sentinel-deploy '"cgroup-parent": "/'"$cgroup_parent"'",
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 4096}},' ||
  fail "$start_failure" "$work/dockerd.log"
export DOCKER_HOST=unix://$work/docker.sock
export DOCKER_CONFIG=$work/docker-cli
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"

t0=$(date +%s)
step "docker import the base as debian:bookworm-slim" docker import "$base_tar" debian:bookworm-slim
import_s=$(elapsed "$t0")

# --- 1. The image ------------------------------------------------------------
client="diff"
runtime_stage() { sed -n '/^# --- runtime: keep identical/,/^# --- end of the shared runtime stage ---/p' "$1"; }
runtime_stage "$repo_root/deploy/Dockerfile" >"$work/runtime.full"
runtime_stage "$repo_root/deploy/Dockerfile.prebuilt" >"$work/runtime.prebuilt"
[ -s "$work/runtime.full" ] || fail "find the runtime stage markers in deploy/Dockerfile"
diff -u "$work/runtime.full" "$work/runtime.prebuilt" >"$work/out" ||
  fail "deploy/Dockerfile and deploy/Dockerfile.prebuilt have different runtime stages" "$work/out"

client=docker
build="Dockerfile.prebuilt over the host's binaries"
if [ -n "${FULL_BUILD:-}" ]; then
  # The multi-stage deploy/Dockerfile itself, by hand (not in CI: a release
  # build takes a quarter of an hour on two cores). rust:1.90-bookworm cannot
  # be pulled either: a stand-in under that name is made from the base, Debian's
  # C toolchain (as in the buildpack-deps image rust: is built on), the
  # host's Rust toolchain (its bin and lib) and the host's CA bundle.
  command -v rustc >/dev/null || fail "find rustc (FULL_BUILD uses the host's toolchain)"
  mkdir -p "$work/rust"
  tar -C "$(rustc --print sysroot)" -cf "$work/rust/toolchain.tar" bin lib
  # The host's CA bundle, so that cargo reaches crates.io as the host does
  # (through whatever TLS proxy the host trusts).
  cp /etc/ssl/certs/ca-certificates.crt "$work/rust/ca-certificates.crt"
  cat >"$work/rust/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get -o Acquire::Retries=3 install -y --no-install-recommends gcc libc6-dev make pkg-config ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ADD toolchain.tar /usr/local/rust/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/rust/bin:$PATH
EOF
  step "docker build (stand-in for rust:1.90-bookworm)" docker build --network host -t rust:1.90-bookworm "$work/rust"
  rm -f "$work/rust/toolchain.tar"
  t0=$(date +%s)
  # A low CPU weight: the build yields to the machine's other work.
  step "docker build -f deploy/Dockerfile (multi-stage, cargo build --release)" docker build --network host \
    --cpu-shares 128 -f "$repo_root/deploy/Dockerfile" -t "$image" "$repo_root"
  build="the multi-stage deploy/Dockerfile, cargo build --release in $(elapsed "$t0") s"
fi
context=$work/context
mkdir -p "$context/bin" "$context/deploy"
# The debug binaries CI already built, without their debug info (a tenth of
# the size): what runs is the same code.
strip --strip-debug -o "$context/bin/sentinel-registry" "$registry_binary"
strip --strip-debug -o "$context/bin/agent" "$agent_binary"
cp "$repo_root/deploy/sentinel-healthcheck" "$context/deploy/"
t0=$(date +%s)
# --network host: the build's apt-get (ca-certificates) reaches Debian's
# mirror; dockerd here has no bridge for a build container.
if [ -z "${FULL_BUILD:-}" ]; then
  step "docker build -f deploy/Dockerfile.prebuilt" docker build --network host \
    -f "$repo_root/deploy/Dockerfile.prebuilt" -t "$image" "$context"
fi
build_s=$(elapsed "$t0")
image_mb=$(($(docker image inspect --format '{{.Size}}' "$image") / 1000000))

docker image inspect "$image" >"$work/image.json" 2>"$work/out" || fail "docker image inspect" "$work/out"
client=jq
check_image() { # check_image WHAT JQ-FILTER EXPECTED
  local got
  got=$(jq -r ".[0].Config | $2" "$work/image.json")
  [ "$got" = "$3" ] || fail "image $1: '$got', expected '$3'"
}
check_image user .User 10001:10001
check_image "listen address" '.Env[] | select(startswith("SENTINEL_LISTEN="))' SENTINEL_LISTEN=0.0.0.0:5000
check_image "data directory" '.Env[] | select(startswith("SENTINEL_DATA_DIR="))' SENTINEL_DATA_DIR=/var/lib/sentinel
check_image volume '.Volumes | keys | join(",")' /var/lib/sentinel
check_image "exposed port" '.ExposedPorts | keys | join(",")' 5000/tcp
check_image "stop signal" .StopSignal SIGTERM
check_image healthcheck '.Healthcheck.Test | join(" ")' "CMD /usr/local/bin/sentinel-healthcheck"
check_image entrypoint '.Entrypoint | join(" ")' /usr/local/bin/sentinel-registry
check_image "title label" '.Labels["org.opencontainers.image.title"]' sentinel-registry

# The defaults as they are: 0.0.0.0:5000 inside a container of its own (no
# network but its loopback), data in the image's volume, as 10001.
client=docker
step "docker run (defaults, --network none)" docker run -d --name defaults --network none "$image"
ok=
for _ in $(seq 1 100); do
  if docker exec defaults bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' >/dev/null 2>&1; then ok=1 && break; fi
  [ "$(docker inspect --format '{{.State.Running}}' defaults)" = true ] || break
  sleep 0.1
done
docker logs defaults >"$work/defaults.log" 2>&1 || true
[ -n "$ok" ] || fail "the default container does not accept connections on 0.0.0.0:5000" "$work/defaults.log"
grep -q 'listening on http://0.0.0.0:5000 (data: /var/lib/sentinel' "$work/defaults.log" ||
  fail "the default container's log does not say it listens on 0.0.0.0:5000 with data in /var/lib/sentinel" "$work/defaults.log"
# The HEALTHCHECK command with the image's own SENTINEL_LISTEN (judged below,
# once it is known whether this registry has /healthz).
defaults_health=0
docker exec defaults /usr/local/bin/sentinel-healthcheck >/dev/null 2>&1 || defaults_health=$?
step "id in the container" docker exec defaults id -u
[ "$(cat "$work/out")" = 10001 ] || fail "the registry runs as uid $(cat "$work/out"), not 10001"
step "docker rm (defaults)" docker rm -f defaults
step "agent in the image" docker run --rm --network none --entrypoint agent "$image" --version
grep -q '^agent ' "$work/out" || fail "agent --version in the image" "$work/out"

# --- 2. The registry, auth on, a named volume --------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# As the Kubernetes manifests run it: read-only root filesystem with a
# writable /tmp, no capabilities, no privilege escalation.
run_registry() { # run_registry NAME
  docker run -d --name "$1" --network host \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -e SENTINEL_LISTEN="$addr" -e SENTINEL_AUTH=true -e SENTINEL_ADMIN_PASSWORD="$password" \
    -v sentinel-data:/var/lib/sentinel --stop-timeout 40 \
    --health-interval 1s --health-start-period 5s "$image"
}
# wait_ready NAME: until /v2/ answers the admin (and, where the registry has
# /healthz, until docker calls the container healthy).
health=unchecked
wait_ready() {
  local code=
  for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$password" "http://$addr/v2/" || true)
    [ "$code" = 200 ] && break
    [ "$(docker inspect --format '{{.State.Running}}' "$1")" = true ] || break
    sleep 0.1
  done
  [ "$code" = 200 ] || fail "wait for /v2/ in container $1 (last status $code)"
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz" || true)
  if [ "$code" = 200 ]; then
    for _ in $(seq 1 150); do
      [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = healthy ] && break
      sleep 0.2
    done
    docker inspect --format '{{json .State.Health}}' "$1" >"$work/out" 2>&1
    [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = healthy ] ||
      fail "container $1 is not healthy 30 s after /healthz answered 200" "$work/out"
    code=$(curl -s -o "$work/readyz" -w '%{http_code}' "http://$addr/readyz" || true)
    if [ "$code" != 200 ] || [ "$(jq -r .status "$work/readyz" 2>/dev/null)" != ok ]; then
      fail "GET /readyz in container $1: $code $(head -c 300 "$work/readyz")"
    fi
    health="healthy (HEALTHCHECK on /healthz), /readyz ok ($(jq -r '.checks | keys | join(", ")' "$work/readyz"))"
  else
    health="not checked: this registry has no /healthz yet ($code)"
  fi
}
t0=$(date +%s)
step "docker run (registry, auth on, volume sentinel-data)" run_registry sentinel
wait_ready sentinel
case $health in
  healthy*) [ "$defaults_health" = 0 ] || fail "sentinel-healthcheck failed ($defaults_health) in the container with the image's defaults" ;;
esac
ready_ms=$((($(date +%s) - t0) * 1000))

# A small image: a static busybox and a script.
mkdir -p "$work/rootfs/bin"
cp "$busybox" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
printf '#!/bin/sh\necho hello from sentinel in a container\n' >"$work/rootfs/hello.sh"
chmod +x "$work/rootfs/hello.sh"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
small=$addr/admin/hello-image:1
step "docker import (small image)" docker import --change 'CMD ["/hello.sh"]' "$work/rootfs.tar" "$small"
printf '%s' "$password" >"$work/password"
step "docker login" docker login "$addr" -u admin --password-stdin <"$work/password"
step "docker push" docker push "$small"
pushed=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$work/out" | cut -d' ' -f2) || true
[ -n "$pushed" ] || fail "docker push printed no digest" "$work/out"
image_id=$(docker image inspect --format '{{.Id}}' "$small")
step "docker rmi" docker rmi "$small"
step "docker pull" docker pull "$small"
grep -q "Digest: $pushed" "$work/out" || fail "docker pull reported another digest (pushed $pushed)" "$work/out"
[ "$(docker image inspect --format '{{.Id}}' "$small")" = "$image_id" ] || fail "the pulled image ID differs from the pushed one"
step "docker run (pulled image)" timeout 60 "$docker_cli" run --rm --network none "$small"
grep -qx 'hello from sentinel in a container' "$work/out" || fail "the pulled image's output" "$work/out"

# The agent CLI of this host against the registry in the container.
client=agent
agent() {
  env -i PATH="$PATH" HOME="$work/home" AGENT_CONFIG_DIR="$work/home/config" \
    AGENT_STORE="$work/home/store" DOCKER_CONFIG="$work/home/docker" \
    "$agent_binary" "$@"
}
mkdir -p "$work/home" "$work/hello/prompts"
cat >"$work/hello/agent.yaml" <<'YAML'
name: hello
version: 0.1.0
description: Container test agent
author: Deploy <deploy@example.com>
capabilities: [greet]
YAML
echo "Say hello." >"$work/hello/prompts/system.md"
step "agent login" agent login "$addr" --username admin --password-stdin <"$work/password"
step "agent push" agent push "$addr/admin/hello:0.1.0" "$work/hello"
step "agent pull" agent pull "$addr/admin/hello:0.1.0" -d "$work/pulled"
cmp -s "$work/hello/prompts/system.md" "$work/pulled/prompts/system.md" || fail "agent pull: prompts/system.md differs"

# --- 3. docker stop while an upload is in flight -----------------------------
client=curl
head -c 1500000 /dev/urandom >"$work/blob"
blob_digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
location=$(curl -sS -u "admin:$password" -X POST -D - -o /dev/null "http://$addr/v2/admin/inflight/blobs/uploads/" |
  tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
[ -n "$location" ] || fail "POST /v2/admin/inflight/blobs/uploads/ gave no Location"
case $location in http*) ;; *) location="http://$addr$location" ;; esac
case $location in *\?*) sep='&' ;; *) sep='?' ;; esac
# 1.5 MB at 300 kB/s: about 5 s on the wire, most of it after SIGTERM.
curl -sS -u "admin:$password" -X PUT --limit-rate 300k -H 'Content-Type: application/octet-stream' \
  --data-binary @"$work/blob" -o "$work/inflight.body" -w '%{http_code}' \
  "$location${sep}digest=$blob_digest" >"$work/inflight.code" 2>"$work/inflight.err" &
upload_pid=$!
sleep 1
client=docker
t0=$(date +%s%N)
step "docker stop (SIGTERM)" docker stop -t 40 sentinel
stop_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$upload_pid" || true
[ "$(cat "$work/inflight.code")" = 201 ] ||
  fail "the upload in flight at SIGTERM was not acknowledged (status $(cat "$work/inflight.code"))" "$work/inflight.err"
exit_code=$(docker inspect --format '{{.State.ExitCode}}' sentinel)
[ "$exit_code" = 0 ] || fail "the registry exited $exit_code after SIGTERM, not 0"
[ "$stop_ms" -lt 35000 ] || fail "docker stop took $stop_ms ms, close to the 40 s grace period"
docker logs sentinel >"$work/sentinel.log" 2>&1
grep -q 'shutting down: finishing in-flight requests' "$work/sentinel.log" ||
  fail "the registry did not log its shutdown" "$work/sentinel.log"
step "docker rm (stopped registry)" docker rm sentinel

# --- 4. Again on the same volume ---------------------------------------------
step "docker run (same volume)" run_registry sentinel-again
wait_ready sentinel-again
step "docker rmi (before pulling again)" docker rmi "$small"
step "docker pull (after restart)" docker pull "$small"
grep -q "Digest: $pushed" "$work/out" || fail "docker pull after restart reported another digest" "$work/out"
# containerd (the Kubernetes pull path) with the plain-HTTP hosts.toml of
# deploy/kubernetes/containerd/ for this address. The image is named by a
# host that does not resolve (as a node would name a registry by its DNS
# name): only the hosts.toml leads containerd to 127.0.0.1:PORT, over HTTP.
client=ctr
hosts_dir=$work/certs.d
alias_host=sentinel.invalid:$port
mkdir -p "$hosts_dir/$alias_host"
sed -n 's/^# \(server = "http:\/\/\|\[host\."http:\/\/\|  capabilities\)/\1/p' \
  "$repo_root/deploy/kubernetes/containerd/hosts.toml" | sed "s/10\.0\.0\.5:30500/$addr/" >"$hosts_dir/$alias_host/hosts.toml"
grep -q "^server = \"http://$addr\"" "$hosts_dir/$alias_host/hosts.toml" ||
  fail "make a hosts.toml from deploy/kubernetes/containerd/hosts.toml"
step "ctr images pull --hosts-dir" ctr -a "$work/containerd.sock" -n sentinel-deploy-ctr images pull \
  --hosts-dir "$hosts_dir" --user "admin:$password" "$alias_host/admin/hello-image:1"
client=curl
code=$(curl -s -o "$work/blob.back" -w '%{http_code}' -u "admin:$password" "http://$addr/v2/admin/inflight/blobs/$blob_digest" || true)
if [ "$code" != 200 ] || ! cmp -s "$work/blob" "$work/blob.back"; then
  fail "the blob uploaded during shutdown is not served after restart ($code)"
fi
client=agent
rm -rf "$work/home/store" "$work/pulled"
step "agent pull (after restart, empty store)" agent pull "$addr/admin/hello:0.1.0" -d "$work/pulled"
cmp -s "$work/hello/prompts/system.md" "$work/pulled/prompts/system.md" || fail "agent pull after restart: prompts/system.md differs"

# --- 5. The dashboard's metrics ------------------------------------------------
client=curl
metrics="not checked: this registry has no /metrics yet"
code=$(curl -s -o "$work/metrics" -w '%{http_code}' -u "admin:$password" "http://$addr/metrics" || true)
if [ "$code" = 200 ]; then
  python3 "$repo_root/deploy/test/dashboard_metrics.py" "$repo_root/deploy/grafana/sentinel.json" "$work/metrics" >"$work/out" 2>&1 ||
    fail "the Grafana dashboard queries metrics /metrics does not have" "$work/out"
  metrics=$(tail -n1 "$work/out")
fi

# --- 6. compose.yaml, up for real --------------------------------------------
# With the image just built and the admin password from the compose secret.
# compose.yaml publishes port 5000 through a bridge network, which dockerd
# here does not have: the rendered file is run with that one change, on the
# host network and 127.0.0.1:PORT.
client=docker-compose
compose="skipped (no docker-compose)"
if command -v docker-compose >/dev/null; then
  step "docker stop (before compose)" docker stop -t 40 sentinel-again
  compose_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s' "$compose_password" >"$work/admin-password.txt"
  # Compose mounts a secret file as it is: the image's user must read it.
  chown 10001 "$work/admin-password.txt" && chmod 0400 "$work/admin-password.txt"
  SENTINEL_IMAGE=$image SENTINEL_ADMIN_PASSWORD_SECRET=$work/admin-password.txt \
    step "docker-compose config" docker-compose --project-directory "$repo_root/deploy" \
    -f "$repo_root/deploy/compose.yaml" config
  # docker-compose's own Python has PyYAML.
  compose_python=$(head -n1 "$(command -v docker-compose)" | sed 's/^#! *//')
  $compose_python - "$work/out" "$work/compose.host.yaml" "$addr" <<'PY' || fail "rewrite the compose file for the host network"
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
registry = config["services"]["registry"]
del registry["ports"]
registry["network_mode"] = "host"
registry["environment"]["SENTINEL_LISTEN"] = sys.argv[3]
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
  compose() { docker-compose -p sentinel-ci -f "$work/compose.host.yaml" "$@"; }
  step "docker-compose up" compose up -d --no-build
  client=curl
  code=
  for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$compose_password" "http://$addr/v2/" || true)
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  [ "$code" = 200 ] || { compose logs >"$work/out" 2>&1; fail "compose: the admin with the secret's password gets $code from /v2/" "$work/out"; }
  client=docker-compose
  step "docker-compose down" compose down -v --timeout 40
  compose="up, admin password from the secret, down"
fi

echo "deploy container: base $base_made (imported in $import_s s), image built in $build_s s ($build, $image_mb MB), defaults 0.0.0.0:5000 as 10001; registry answered in ~$ready_ms ms, health $health; docker login/push/pull/run ($pushed) and agent login/push/pull; docker stop with an upload in flight: acknowledged, exit 0 in $stop_ms ms; same volume again: docker, ctr (hosts.toml) and agent pull; metrics: $metrics; compose: $compose; $(elapsed "$started") s in all: ok"
