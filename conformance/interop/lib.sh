# Shared by the interop and fault scripts: source it, then call start_registry.

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
