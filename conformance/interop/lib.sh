# Shared by the interop and fault scripts: source it, then call start_registry
# (after start_work, for a script that needs nothing else cleaned up).

# start_work NAME: makes a temporary work directory, $work, removed on exit
# together with the registry start_registry started, and defines fail STEP,
# which says that NAME failed at STEP, shows the end of the registry's log and
# exits 1.
start_work() {
  work_name=$1
  work=$(mktemp -d)
  server_pid=
  trap remove_work EXIT
  fail() {
    echo "$work_name: FAILED at step '$1'" >&2
    [ -f "$work/server.log" ] && tail -n 20 "$work/server.log" >&2
    exit 1
  }
}

# remove_work: stops the registry, if one was started, and removes $work.
remove_work() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}

# unmount_and_remove_work: lazily unmounts whatever a client left mounted
# under $work (deepest first: overlay and shm mounts of containers), then
# removes $work, or keeps it when KEEP is set.
unmount_and_remove_work() {
  awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}

# report_failure SCRIPT STEP [FILE]: says that SCRIPT failed at STEP while
# $client ran, and shows the end of the client's output (FILE) and of the
# registry's log. The caller adds its own daemon's log, then exits.
report_failure() {
  echo "$1: FAILED at step '$2' (client: $client)" >&2
  if [ -n "${3:-}" ] && [ -s "$3" ]; then
    echo "--- $client output:" >&2
    tail -n 30 "$3" >&2
  fi
  if [ -f "$work/server.log" ]; then
    echo "--- registry log (last lines):" >&2
    tail -n 25 "$work/server.log" >&2
  fi
}

# start_registry BINARY WORKDIR [ARGS...]: starts BINARY serve on a free
# loopback port with its data in $data_dir (default WORKDIR/data; extra ARGS
# are passed on) and its log in WORKDIR/server.log. Sets server_pid and addr
# (host:port). Returns 1 if the server did not print its address within 10 s.
start_registry() {
  local binary=$1 work=$2
  shift 2
  : >"$work/server.log"
  "$binary" serve --listen 127.0.0.1:0 --data-dir "${data_dir:-$work/data}" "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  addr=
  for _ in $(seq 1 100); do
    addr=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -n1 | sed 's|listening on http://||') || true
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  return 1
}

# static_busybox: prints the path of a statically linked busybox ($BUSYBOX
# when set, else the busybox-static package's), or returns 1 if there is none.
static_busybox() {
  local candidate
  for candidate in "${BUSYBOX:-}" /bin/busybox /usr/bin/busybox; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
      { LC_ALL=C ldd "$candidate" 2>&1 || true; } | grep -q 'not a dynamic executable'; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# with_blob_info_cache DIR CMD...: runs CMD (skopeo, podman, buildah, as root)
# in a private mount namespace where the machine-wide blob-info cache,
# /var/lib/containers/cache, is DIR: nothing is read from or left in the
# machine's cache.
with_blob_info_cache() {
  mkdir -p /var/lib/containers/cache "$1"
  unshare --mount --propagation private sh -c \
    'mount --bind "$1" /var/lib/containers/cache && shift && exec "$@"' sh "$@"
}

# start_containerd TEMP: starts containerd with its root, state, sockets and
# config under $work (no CRI plugin; its temporary files in TEMP), logging to
# $work/containerd.log, and waits for its socket $work/containerd.sock to
# answer. Sets containerd_pid. On failure sets start_failure to the step that
# failed and returns 1 (the caller reports it with its own fail).
start_containerd() {
  local temp=$1
  mkdir -p "$temp"
  cat >"$work/containerd.toml" <<EOF_CONTAINERD
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
temp = "$temp"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[debug]
  address = "$work/containerd-debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
EOF_CONTAINERD
  containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
  containerd_pid=$!
  for _ in $(seq 1 100); do
    [ -S "$work/containerd.sock" ] && command ctr -a "$work/containerd.sock" version >/dev/null 2>&1 && return 0
    if ! kill -0 "$containerd_pid" 2>/dev/null; then
      start_failure="start containerd (it exited)"
      return 1
    fi
    sleep 0.1
  done
  start_failure="start containerd (socket not ready)"
  return 1
}

# start_dockerd NAMESPACE [JSON]: starts dockerd over the containerd of
# start_containerd, with all its state under $work, no bridge and no
# iptables (containers use --network host or none), its containerd objects
# in NAMESPACE, and JSON (more "key": value lines of daemon.json, each
# ending in a comma) added to its configuration; logs to $work/dockerd.log.
# Waits for its API on $work/docker.sock (15 s). Sets dockerd_pid; on
# failure sets start_failure and returns 1.
start_dockerd() {
  local namespace=$1 extra=${2:-}
  cat >"$work/daemon.json" <<EOF_DOCKERD
{
  "data-root": "$work/docker/data",
  "exec-root": "$work/docker/exec",
  "pidfile": "$work/docker/dockerd.pid",
  "deprecated-key-path": "$work/docker/key.json",
  "hosts": ["unix://$work/docker.sock"],
  "containerd": "$work/containerd.sock",
  "containerd-namespace": "$namespace",
  "containerd-plugins-namespace": "$namespace-plugins",
  "bridge": "none",
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "userland-proxy": false,
  $extra
  "features": {"buildkit": false}
}
EOF_DOCKERD
  dockerd --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 150); do
    DOCKER_HOST="unix://$work/docker.sock" "${docker_cli:-docker}" version >/dev/null 2>&1 && return 0
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      start_failure="start dockerd (it exited)"
      return 1
    fi
    sleep 0.1
  done
  start_failure="start dockerd (API not answering on unix://$work/docker.sock)"
  return 1
}

# stop_dockerd: if start_dockerd started dockerd, removes its containers and
# stops it (SIGKILL after 10 s).
stop_dockerd() {
  [ -n "${dockerd_pid:-}" ] || return 0
  local c
  for c in $("${docker_cli:-docker}" -H "unix://$work/docker.sock" ps -aq 2>/dev/null); do
    "${docker_cli:-docker}" -H "unix://$work/docker.sock" rm -f "$c" >/dev/null 2>&1
  done
  kill "$dockerd_pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$dockerd_pid" 2>/dev/null
  wait "$dockerd_pid" 2>/dev/null
  dockerd_pid=
}

# stop_containerd [RUNC_ROOTS]: if start_containerd started containerd, stops
# it (SIGKILL after 10 s); then has runc kill and delete the containers whose
# state is under RUNC_ROOTS (a directory whose subdirectories are runc roots,
# e.g. $work/docker/exec/runtime-runc) and stops the shims this containerd
# started, which outlive it by design.
stop_containerd() {
  [ -n "${containerd_pid:-}" ] || return 0
  local runc_roots=${1:-} state dir cmdline pid
  kill "$containerd_pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$containerd_pid" 2>/dev/null
  wait "$containerd_pid" 2>/dev/null
  containerd_pid=
  if [ -n "$runc_roots" ]; then
    for state in "$runc_roots"/*/*/state.json; do
      [ -f "$state" ] || continue
      dir=${state%/state.json}
      runc --root "${dir%/*}" delete -f "${dir##*/}" >/dev/null 2>&1
    done
  fi
  for cmdline in /proc/[0-9]*/cmdline; do
    case "$(tr '\0' ' ' 2>/dev/null <"$cmdline")" in
      *containerd-shim*"-address $work/containerd.sock"*)
        pid=${cmdline#/proc/}
        kill "${pid%/cmdline}" 2>/dev/null
        ;;
    esac
  done
}
