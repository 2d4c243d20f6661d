#!/usr/bin/env bash
# Interop: real clients against a sentinel-registry with authentication on.
# The registry runs with --auth; `sentinel-registry user add` makes alice and
# bob (publishers) and `token create` a personal access token for alice. Then:
#   1. docker: login (config.json holds the credential), push alice/img:1,
#      rmi, pull it back (same image ID); a push to bob/img:1 is denied;
#      logout (anonymous pull then refused); a wrong password is refused.
#   2. podman: login, push alice/pod:1, rmi, pull it back; a push to bob's
#      namespace is denied; a wrong password is refused; logout.
#   3. skopeo: copy to alice/sk:1 with alice's password, inspect with her
#      PAT; bob and anonymous are refused on the private repository; after
#      `repo visibility alice/sk public`, anonymous inspect works.
#   4. containerd (ctr): pull alice/img:1 without credentials is refused, with
#      --user works; push with --user to alice/ctr:1 works (the registry
#      serves the same manifest), to bob/ctr:1 is denied.
#   5. oras-py: login, push an artifact to alice/art:1 (its "basic" auth
#      backend: the default "token" backend cannot push, see below), pull it
#      back byte-identical (default backend); anonymous and bob are refused.
#   6. agent: login, init, push alice/hello:0.1.0; a push to bob/hello:0.1.0
#      fails with one line saying it was denied; pull gives back the files.
# Each check prints one line; the first failure names the client and step,
# shows the client's output and the registry's last log lines, and exits 1.
#
# Usage: conformance/interop/auth-clients.sh [sentinel-registry] [agent]
# Needs (Debian, root): docker.io containerd runc podman skopeo umoci
# busybox-static jq curl, and PyPI oras. Binds 127.0.0.1 only; every
# client's state (dockerd's and containerd's roots and sockets, CLI configs,
# auth files, storages, blob-info caches, the agent home) lives in a
# temporary directory, removed on exit (KEEP=1 keeps it). DOCKER_CLI picks the
# docker CLI (default /usr/bin/docker); SENTINEL_LOG the registry's log level.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

registry_binary=${1:-target/debug/sentinel-registry}
agent_binary=${2:-target/debug/agent}
for binary in "$registry_binary" "$agent_binary"; do
  [ -x "$binary" ] || {
    echo "interop auth: FAILED at step 'find $binary' (build it: cargo build -p sentinel-registry -p sentinel-agent-cli)" >&2
    exit 1
  }
done
registry_binary=$(realpath "$registry_binary")
agent_binary=$(realpath "$agent_binary")
docker_cli=${DOCKER_CLI:-/usr/bin/docker}
started=$(date +%s)

work=$(mktemp -d /tmp/sentinel-auth-clients.XXXXXX)
server_pid=
containerd_pid=
dockerd_pid=
cleanup() {
  set +e
  stop_dockerd
  stop_containerd
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  unmount_and_remove_work
}
trap cleanup EXIT

client=setup
# fail STEP [FILE]: names the client and the step, shows the client's output
# (FILE) and the registry's last log lines, and exits 1.
fail() {
  report_failure "interop auth" "$1" "${2:-}"
  if [ "$client" = docker ] && [ -f "$work/dockerd.log" ]; then
    echo "--- dockerd log (errors):" >&2
    grep -E 'level=(error|fatal)' "$work/dockerd.log" | tail -n 10 >&2
  fi
  exit 1
}
# ok WHAT: reports a check that passed.
ok() { echo "ok  $client: $*"; }
# Every client runs through a wrapper that bounds it in time.
limit=180
# step NAME CMD...: runs CMD with its output in $work/out; fails with that
# output unless it succeeds.
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}
# refused NAME PATTERN CMD...: runs CMD, which must fail with a line matching
# the extended regex PATTERN (case-insensitive); that line is left in
# $refusal.
refused() {
  local name=$1 pattern=$2
  shift 2
  if "$@" >"$work/out" 2>&1; then
    fail "$name (it succeeded, it must be refused)" "$work/out"
  fi
  # Progress output: carriage returns and terminal escapes out.
  sed -i -e 's/\r/\n/g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$work/out"
  refusal=$(grep -Eim1 "$pattern" "$work/out") || fail "$name (refused, but no line matches /$pattern/)" "$work/out"
}
sha256() { sha256sum "$@" | cut -d' ' -f1; }

for tool in dockerd "$docker_cli" containerd ctr podman skopeo umoci jq curl unshare python3; do
  command -v "$tool" >/dev/null || { client=$tool; fail "find $tool (install the Debian package)"; }
done
[ "$(id -u)" = 0 ] || fail "run as root (dockerd, containerd, rootful podman)"
python3 -c 'import oras.client' 2>/dev/null || { client=oras-py; fail "import oras-py (pip install oras)"; }
busybox=$(static_busybox) || fail "find a static busybox (apt-get install busybox-static, or set BUSYBOX=)"

# --- the registry, its users and a token ------------------------------------
client=sentinel-registry
admin_password=admin-secret-0
alice_password=alice-secret-1
bob_password=bob-secret-22
wrong_password=not-alice-password
export SENTINEL_LOG=${SENTINEL_LOG:-info}
SENTINEL_ADMIN_PASSWORD=$admin_password start_registry "$registry_binary" "$work" --auth ||
  fail "start the registry with --auth" "$work/server.log"
data=$work/data
manage() { timeout "$limit" "$registry_binary" "$@" --data-dir "$data"; }
printf '%s\n' "$alice_password" | manage user add alice --role publisher --password-stdin >"$work/out" 2>&1 ||
  fail "user add alice" "$work/out"
printf '%s\n' "$bob_password" | manage user add bob --role publisher --password-stdin >"$work/out" 2>&1 ||
  fail "user add bob" "$work/out"
manage token create alice --name interop >"$work/out" 2>&1 || fail "token create alice" "$work/out"
alice_pat=$(grep -Eo '^sntl_[0-9a-f]{12}_[0-9a-f]{64}$' "$work/out") || fail "token create printed no token" "$work/out"
pat_id=$(grep -Eo '^created token [0-9a-f]{12}' "$work/out" | cut -d' ' -f3) || fail "token create printed no token id" "$work/out"
# The server picks the changes up within 250 ms: wait up to 5 s for the
# token, written last, to be listed (asking as admin, so that no failed login
# is counted against the address before the users exist).
for _ in $(seq 1 50); do
  curl -s -m 30 -u "admin:$admin_password" "http://$addr/api/v1/tokens?user=alice" |
    jq -e --arg id "$pat_id" '.tokens | any(.id == $id)' >/dev/null 2>&1 && break
  sleep 0.1
done
# token_status USER SECRET: the status of a token request for alice/x.
token_status() {
  curl -s -m 30 -o /dev/null -w '%{http_code}' -u "$1:$2" \
    "http://$addr/token?service=sentinel-registry&scope=repository:alice/x:pull"
}
[ "$(token_status alice "$alice_password")" = 200 ] || fail "alice's password is accepted at /token"
[ "$(token_status bob "$bob_password")" = 200 ] || fail "bob's password is accepted at /token"
[ "$(token_status alice "$alice_pat")" = 200 ] || fail "alice's PAT is accepted at /token"
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "http://$addr/v2/alice/img/tags/list")
[ "$code" = 401 ] || fail "anonymous GET /v2/alice/img/tags/list answered $code, expected 401"
ok "registry on $addr with --auth; users alice and bob (publishers) added, a PAT for alice created"

cd "$work"
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
# A tiny rootfs: a static busybox and a file, as a tarball to import.
mkdir -p rootfs/bin
cp "$busybox" rootfs/bin/busybox
ln -s busybox rootfs/bin/sh
head -c 100000 /dev/urandom >rootfs/data.bin
tar -C rootfs -cf rootfs.tar .

# --- containerd (for dockerd, and for ctr in part 4) -------------------------
client=containerd
start_containerd "$work/tmp" || fail "$start_failure" "$work/containerd.log"

# --- 1. docker ----------------------------------------------------------------
# --- 1. docker ----------------------------------------------------------------
client=docker
start_dockerd auth-docker '"insecure-registries": ["'"$addr"'"],
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}},' ||
  fail "$start_failure" "$work/dockerd.log"
docker_config=$work/docker-cli
mkdir -p "$docker_config"
echo '{}' >"$docker_config/config.json"
docker() { timeout "$limit" env DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$docker_config" "$docker_cli" "$@"; }

refused "docker login with a wrong password" 'unauthori[sz]ed|denied|incorrect|invalid' \
  docker login -u alice --password-stdin "$addr" <<<"$wrong_password"
ok "login with a wrong password refused: $refusal"
[ "$(jq -c '.auths // {}' "$docker_config/config.json")" = '{}' ] ||
  fail "a refused login left credentials in config.json" "$docker_config/config.json"

step "docker login -u alice --password-stdin" docker login -u alice --password-stdin "$addr" <<<"$alice_password"
grep -q 'Login Succeeded' "$work/out" || fail "docker login printed no 'Login Succeeded'" "$work/out"
saved=$(jq -r --arg a "$addr" '.auths[$a] | if .identitytoken then "an identity token" elif .auth then "a user:password auth entry" else empty end' \
  "$docker_config/config.json") || true
[ -n "$saved" ] || fail "config.json holds no credential for $addr after login" "$docker_config/config.json"
if [ "$saved" = "a user:password auth entry" ]; then
  [ "$(jq -r --arg a "$addr" '.auths[$a].auth' "$docker_config/config.json" | base64 -d)" = "alice:$alice_password" ] ||
    fail "config.json's auth entry for $addr is not alice's"
fi
ok "login as alice succeeded; config.json holds $saved for $addr"

img=$addr/alice/img:1
step "docker import" docker import --change 'CMD ["/bin/sh"]' rootfs.tar "$img"
image_id=$(docker image inspect --format '{{.Id}}' "$img" 2>"$work/out") || fail "docker image inspect" "$work/out"
step "docker push $img" docker push "$img"
docker_digest=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$work/out" | cut -d' ' -f2) || true
[ -n "$docker_digest" ] || fail "docker push printed no digest" "$work/out"
ok "push $img ($docker_digest)"
step "docker rmi" docker rmi "$img"
docker image inspect "$image_id" >/dev/null 2>&1 && fail "image still present after docker rmi"
step "docker pull $img" docker pull "$img"
grep -q "Digest: $docker_digest" "$work/out" || fail "docker pull reported another digest (pushed $docker_digest)" "$work/out"
[ "$(docker image inspect --format '{{.Id}}' "$img")" = "$image_id" ] || fail "pulled image ID differs from the pushed one"
ok "rmi, then pull $img back (same digest, image ID $image_id)"

step "docker tag" docker tag "$img" "$addr/bob/img:1"
refused "docker push to bob's namespace" 'denied|forbidden|not allowed|permission' docker push "$addr/bob/img:1"
ok "push of $addr/bob/img:1 as alice refused: $refusal"

step "docker logout" docker logout "$addr"
[ "$(jq -c --arg a "$addr" '.auths[$a] // "gone"' "$docker_config/config.json")" = '"gone"' ] ||
  fail "config.json still holds credentials for $addr after logout" "$docker_config/config.json"
step "docker rmi" docker rmi "$img"
refused "anonymous docker pull of a private repository" 'denied|unauthori[sz]ed|not found|authentication' docker pull "$img"
ok "logout removed the credential; anonymous pull of $img refused: $refusal"

# --- 2. podman ----------------------------------------------------------------
client=podman
mkdir -p "$work/podman/run" "$work/podman/root" "$work/podman/tmp" "$work/podman/net"
cat >"$work/podman/storage.conf" <<EOF2
[storage]
driver = "vfs"
runroot = "$work/podman/run"
graphroot = "$work/podman/root"
EOF2
cat >"$work/podman/containers.conf" <<EOF2
[containers]
netns = "none"
[engine]
tmp_dir = "$work/podman/tmp"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/podman/tmp/events.log"
lock_type = "file"
runtime = "runc"
[network]
network_backend = "cni"
network_config_dir = "$work/podman/net"
EOF2
cat >"$work/podman/registries.conf" <<EOF2
unqualified-search-registries = []
[[registry]]
location = "$addr"
insecure = true
EOF2
podman_auth=$work/podman/auth.json
echo '{}' >"$podman_auth"
podman() {
  with_blob_info_cache "$work/podman/blob-info-cache" timeout "$limit" env \
    CONTAINERS_STORAGE_CONF="$work/podman/storage.conf" CONTAINERS_CONF="$work/podman/containers.conf" \
    CONTAINERS_REGISTRIES_CONF="$work/podman/registries.conf" REGISTRY_AUTH_FILE="$podman_auth" \
    podman "$@"
}
refused "podman login with a wrong password" 'unauthori[sz]ed|denied|incorrect|invalid' \
  podman login --tls-verify=false -u alice --password-stdin "$addr" <<<"$wrong_password"
ok "login with a wrong password refused: $refusal"
step "podman login -u alice --password-stdin" podman login --tls-verify=false -u alice --password-stdin "$addr" <<<"$alice_password"
grep -q 'Login Succeeded' "$work/out" || fail "podman login printed no 'Login Succeeded'" "$work/out"
[ "$(jq -r --arg a "$addr" '.auths[$a].auth // empty' "$podman_auth" | base64 -d)" = "alice:$alice_password" ] ||
  fail "the auth file holds no credential of alice's for $addr" "$podman_auth"
ok "login as alice succeeded; the auth file holds her credential for $addr"

pod=$addr/alice/pod:1
step "podman import" podman import --change 'CMD ["/bin/sh"]' rootfs.tar "$pod"
pod_id=$(podman image inspect --format '{{.Id}}' "$pod" 2>"$work/out") || fail "podman image inspect" "$work/out"
step "podman push $pod" podman push --tls-verify=false --digestfile "$work/podman/pushed.digest" "$pod"
pod_digest=$(cat "$work/podman/pushed.digest")
ok "push $pod ($pod_digest)"
step "podman rmi" podman rmi "$pod"
step "podman pull $pod" podman pull --tls-verify=false "$pod"
[ "$(podman image inspect --format '{{.Id}} {{.Digest}}' "$pod" 2>&1)" = "$pod_id $pod_digest" ] ||
  fail "the pulled image is not the pushed one ($pod_id $pod_digest)"
ok "rmi, then pull $pod back (same digest and image ID)"
step "podman tag" podman tag "$pod" "$addr/bob/pod:1"
refused "podman push to bob's namespace" 'denied|forbidden|not allowed|permission' \
  podman push --tls-verify=false "$addr/bob/pod:1"
ok "push of $addr/bob/pod:1 as alice refused: $refusal"
step "podman logout" podman logout "$addr"
[ "$(jq -c --arg a "$addr" '.auths[$a] // "gone"' "$podman_auth")" = '"gone"' ] ||
  fail "the auth file still holds credentials for $addr after logout" "$podman_auth"
ok "logout removed the credential"

# --- 3. skopeo ----------------------------------------------------------------
client=skopeo
skopeo_auth=$work/skopeo/auth.json
mkdir -p "$work/skopeo"
echo '{}' >"$skopeo_auth"
skopeo() {
  with_blob_info_cache "$work/skopeo/blob-info-cache" timeout "$limit" env REGISTRY_AUTH_FILE="$skopeo_auth" skopeo "$@"
}
step "umoci init" umoci init --layout L
step "umoci new" umoci new --image L:v1
step "umoci unpack" umoci unpack --image L:v1 B
cp rootfs/data.bin B/rootfs/data.bin
step "umoci repack" umoci repack --image L:v1 B
step "umoci gc" umoci gc --layout L
sk=docker://$addr/alice/sk:1
refused "anonymous skopeo copy to alice's namespace" 'denied|unauthori[sz]ed|authentication' \
  skopeo copy --dest-no-creds --dest-tls-verify=false oci:L:v1 "$sk"
ok "anonymous push to alice/sk:1 refused: $refusal"
step "skopeo copy --dest-creds alice:PASSWORD" skopeo copy --dest-creds "alice:$alice_password" --dest-tls-verify=false \
  --digestfile "$work/skopeo/pushed.digest" oci:L:v1 "$sk"
sk_digest=$(cat "$work/skopeo/pushed.digest")
ok "copy oci:L:v1 to $sk with alice's password ($sk_digest)"
inspect_digest() { jq -r .Digest "$work/out"; }
step "skopeo inspect --creds alice:PAT" skopeo inspect --creds "alice:$alice_pat" --tls-verify=false "$sk"
[ "$(inspect_digest)" = "$sk_digest" ] || fail "skopeo inspect with the PAT: digest $(inspect_digest), pushed $sk_digest" "$work/out"
ok "inspect $sk with alice's PAT (digest matches)"
step "skopeo copy back with alice's PAT" skopeo copy --src-creds "alice:$alice_pat" --src-tls-verify=false "$sk" oci:OUT:v1
for blob in L/blobs/sha256/*; do
  cmp -s "$blob" "OUT/blobs/sha256/$(basename "$blob")" || fail "blob $(basename "$blob") differs after the round trip"
done
ok "copy $sk back with alice's PAT: every blob byte-identical"
refused "skopeo inspect --creds bob:... of alice's private repository" 'denied|unauthori[sz]ed|authentication|not found' \
  skopeo inspect --creds "bob:$bob_password" --tls-verify=false "$sk"
ok "bob's inspect of private $sk refused: $refusal"
refused "anonymous skopeo inspect of a private repository" 'denied|unauthori[sz]ed|authentication|not found' \
  skopeo inspect --no-creds --tls-verify=false "$sk"
ok "anonymous inspect of private $sk refused: $refusal"
manage repo visibility alice/sk public >"$work/out" 2>&1 || fail "repo visibility alice/sk public" "$work/out"
# The server picks the change up within 250 ms: wait up to 5 s for an
# anonymous token to read the manifest.
anonymous_manifest_status() {
  local token
  token=$(curl -s -m 30 "http://$addr/token?service=sentinel-registry&scope=repository:alice/sk:pull" | jq -r .token) || true
  curl -s -m 30 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$addr/v2/alice/sk/manifests/1"
}
for _ in $(seq 1 50); do
  [ "$(anonymous_manifest_status)" = 200 ] && break
  sleep 0.1
done
step "anonymous skopeo inspect --no-creds of a public repository" skopeo inspect --no-creds --tls-verify=false "$sk"
[ "$(inspect_digest)" = "$sk_digest" ] || fail "anonymous inspect: digest $(inspect_digest), pushed $sk_digest" "$work/out"
ok "after 'repo visibility alice/sk public', anonymous inspect --no-creds of $sk works"

# --- 4. containerd (ctr) ------------------------------------------------------
client=ctr
ctr() { timeout "$limit" ctr -a "$work/containerd.sock" -n auth-ctr "$@"; }
mkdir -p "$work/certs.d"
refused "ctr pull of a private repository without --user" 'unauthori[sz]ed|denied|401|403|authoriz' \
  ctr images pull --plain-http --hosts-dir "$work/certs.d" "$img"
ok "pull of $img without --user refused: $refusal"
step "ctr images pull --user alice:PASSWORD" ctr images pull --plain-http --hosts-dir "$work/certs.d" --user "alice:$alice_password" "$img"
got=$(ctr images ls 2>"$work/out" | awk -v r="$img" '$1 == r {print $3}') || fail "ctr images ls" "$work/out"
[ "$got" = "$docker_digest" ] || fail "ctr pulled digest '$got', docker pushed $docker_digest"
step "ctr images check" ctr images check "name==$img"
grep -q complete "$work/out" || fail "ctr images check: content incomplete" "$work/out"
ok "pull $img with --user alice:PASSWORD (digest $got, content complete)"
ctr_ref=$addr/alice/ctr:1
step "ctr images tag" ctr images tag "$img" "$ctr_ref"
step "ctr images push --user alice:PASSWORD" ctr images push --plain-http --hosts-dir "$work/certs.d" --user "alice:$alice_password" "$ctr_ref"
code=$(curl -s -m 30 -u "alice:$alice_password" -o "$work/ctr.manifest" -w '%{http_code}' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$addr/v2/alice/ctr/manifests/1")
[ "$code" = 200 ] || fail "GET /v2/alice/ctr/manifests/1 with alice's Basic credentials: status $code" "$work/ctr.manifest"
[ "sha256:$(sha256 "$work/ctr.manifest")" = "$docker_digest" ] || fail "the manifest ctr pushed hashes differently from $docker_digest"
ok "push $ctr_ref with --user alice:PASSWORD (the registry serves manifest $docker_digest)"
step "ctr images tag" ctr images tag "$img" "$addr/bob/ctr:1"
refused "ctr push to bob's namespace" 'denied|forbidden|unauthori[sz]ed|403|401' \
  ctr images push --plain-http --hosts-dir "$work/certs.d" --user "alice:$alice_password" "$addr/bob/ctr:1"
ok "push of $addr/bob/ctr:1 as alice refused: $refusal"

# --- 5. oras-py -----------------------------------------------------------------
client=oras-py
mkdir -p "$work/oras/home"
head -c 300000 /dev/urandom >"$work/oras/art.bin"
timeout "$limit" env HOME="$work/oras/home" DOCKER_CONFIG="$work/oras/home/.docker" \
  python3 - "$addr" "$work/oras" "$alice_password" "$bob_password" >"$work/out" 2>&1 <<'PY' || fail "oras-py with credentials" "$work/out"
import hashlib, os, sys
import oras.client
import requests

addr, work, alice_password, bob_password = sys.argv[1:]
os.chdir(work)


class Client(oras.client.OrasClient):
    # oras-py retries a failed request up to five times with sleeps of 3 s to
    # 83 s: call the undecorated request, so a refusal fails at once.
    do_request = oras.client.OrasClient.do_request.__wrapped__


def check(what):
    print(f"ok  oras-py: {what}")


target = f"{addr}/alice/art:1"
config = os.path.join(work, "config.json")
# Pushing needs the "basic" backend: the default "token" backend, once it
# holds a token (here one for pull, from the HEAD of the blob), answers every
# later 401 by sending that same token again, so the POST that starts the
# upload (needing pull,push) can never succeed. Only a 403 makes it ask for a
# new token; the registry answers 401 insufficient_scope, as the token spec
# and Distribution do. The registry takes Basic credentials on /v2/ requests.
alice = Client(hostname=addr, insecure=True, auth_backend="basic")
alice.login(username="alice", password=alice_password, hostname=addr, config_path=config)
assert os.path.exists(config), "login wrote no config"
# The basic backend sends each request without credentials first, and again
# with them after the 401. If the registry closes the connection after such
# a 401 (without saying so), the retry on that connection fails: name the
# exchange that preceded it.
last = {}


def record(response, *args, **kwargs):
    request = response.request
    last["exchange"] = (
        f"{request.method} {request.url} (body: {request.headers.get('Content-Length', '0')} bytes) "
        f"answered {response.status_code}, Connection: {response.headers.get('Connection', '(none)')}"
    )


alice.session.hooks["response"].append(record)
try:
    alice.push(target=target, files=["art.bin:application/x-sentinel-test"], config_path=config)
except requests.exceptions.ConnectionError as error:
    sys.exit(
        "the registry closed the connection without answering the request after: "
        f"{last.get('exchange')}; the client saw: {error}"
    )
check(f"login as alice (basic backend), push {target}")

# Pulling only ever needs pull: the default token backend does it.
reader = Client(hostname=addr, insecure=True)
reader.login(username="alice", password=alice_password, hostname=addr, config_path=config)
manifest = reader.get_manifest(target)
layer = manifest["layers"][0]
files = reader.pull(target=target, outdir=os.path.join(work, "pulled"), config_path=config)
path = os.path.join(work, "pulled", "art.bin")
assert path in files, files
data = open(path, "rb").read()
assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"], "pulled bytes do not hash to the layer digest"
assert data == open(os.path.join(work, "art.bin"), "rb").read(), "pulled bytes differ from the pushed file"
check(f"login as alice (token backend), pull {target} back: {len(data)} bytes, byte-identical, digest {layer['digest']}")


def refused(what, call):
    try:
        call()
    except Exception as error:  # oras-py raises ValueError or requests' HTTPError
        message = str(error).splitlines()[0][:200]
        # A refusal by the registry, not a failure to reach it.
        assert any(word in message for word in ("DENIED", "Forbidden", "Unauthorized")), f"{what}: {message}"
        check(f"{what} refused: {message}")
        return
    raise AssertionError(f"{what} succeeded; it must be refused")


refused(f"anonymous get_manifest of private {target}", lambda: Client(hostname=addr, insecure=True).get_manifest(target))
bob = Client(hostname=addr, insecure=True)
bob.login(username="bob", password=bob_password, hostname=addr, config_path=os.path.join(work, "bob.json"))
refused(f"bob's get_manifest of private {target}", lambda: bob.get_manifest(target))
bob_pusher = Client(hostname=addr, insecure=True, auth_backend="basic")
bob_pusher.login(username="bob", password=bob_password, hostname=addr, config_path=os.path.join(work, "bob.json"))
refused(f"bob's push to {addr}/alice/art:2", lambda: bob_pusher.push(target=f"{addr}/alice/art:2", files=["art.bin"]))
PY
grep '^ok  ' "$work/out" || true
grep -q 'byte-identical' "$work/out" || fail "oras-py printed no pull check" "$work/out"

# --- 6. agent -------------------------------------------------------------------
client=agent
agent() {
  timeout "$limit" env -i PATH="$PATH" HOME="$work/agent" AGENT_CONFIG_DIR="$work/agent/config" \
    AGENT_STORE="$work/agent/store" DOCKER_CONFIG="$work/agent/docker" "$agent_binary" "$@"
}
mkdir -p "$work/agent"
step "agent init" agent init "$work/agent/hello"
echo "Say hello." >"$work/agent/hello/system.md"
refused "agent push before login" 'denied|unauthori[sz]ed|authentication|permission|credentials|log ?in' \
  agent push "$addr/alice/hello:0.1.0" "$work/agent/hello" --quiet
ok "push of $addr/alice/hello:0.1.0 before login refused: $refusal"
step "agent login -u alice --password-stdin" agent login "$addr" -u alice --password-stdin <<<"$alice_password"
ok "login $addr as alice: $(head -n1 "$work/out")"
step "agent push alice/hello:0.1.0" agent push "$addr/alice/hello:0.1.0" "$work/agent/hello" --quiet
ok "init, push $addr/alice/hello:0.1.0: $(tail -n1 "$work/out")"
if agent push "$addr/bob/hello:0.1.0" "$work/agent/hello" --quiet >"$work/agent/push-bob.out" 2>"$work/agent/push-bob.err"; then
  fail "agent push to bob's namespace succeeded; it must be refused" "$work/agent/push-bob.err"
else
  status=$?
fi
lines=$(wc -l <"$work/agent/push-bob.err")
[ "$lines" = 1 ] || fail "agent push to bob's namespace: $lines lines on stderr, expected one" "$work/agent/push-bob.err"
grep -Eqi 'denied|permission' "$work/agent/push-bob.err" ||
  fail "agent push to bob's namespace: the error does not say denied or permission" "$work/agent/push-bob.err"
ok "push of $addr/bob/hello:0.1.0 as alice refused, exit $status, stderr: $(cat "$work/agent/push-bob.err")"
step "agent pull alice/hello:0.1.0" agent pull "$addr/alice/hello:0.1.0" -d "$work/agent/pulled" --quiet
diff -r "$work/agent/hello" "$work/agent/pulled" >"$work/out" 2>&1 || fail "the pulled files differ from the pushed directory" "$work/out"
ok "pull $addr/alice/hello:0.1.0 into a directory: the same files"

client=sentinel-registry
failed_logins=$(grep -c 'sentinel::audit: action="login-failed"' "$work/server.log" || true)
[ "$failed_logins" -ge 2 ] || fail "the wrong passwords of docker and podman were not audited as failed logins"
throttled=$(grep -c 'status=429' "$work/server.log" || true)
[ "$throttled" = 0 ] || fail "the registry answered $throttled request(s) with 429 (failed-login limit)"
ok "$failed_logins failed logins audited, no request throttled"
echo "interop auth-clients: docker, podman, skopeo, containerd, oras-py and agent against --auth: ok ($(($(date +%s) - started)) s)"
