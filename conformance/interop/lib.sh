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
