#!/usr/bin/env bash
# Benchmarks the `agent` CLI against plain curl on the same sentinel-registry
# (127.0.0.1), and prints a markdown table:
#   - push of a 100 MiB package held in the local store vs a curl POST + PUT
#     of the same file (a fresh registry for every run, so every byte moves);
#   - pull (`agent pull --no-extract`, into an empty store: download, hash,
#     fsync, store) vs a curl GET of the blob into a file, and vs the same
#     curl GET followed by `sync FILE` (the durability agent gives a blob);
#   - a push where every blob already exists (target < 100 ms);
#   - `agent --help` (target < 20 ms).
#
#   conformance/bench/agent.sh [--build] [--runs N] [--size-mib N]
#
# Needs curl, python3 (median) and hyperfine. Disk: about 4x the size in $TMPDIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
registry_binary="$root/target/release/sentinel-registry"
agent_binary="$root/target/release/agent"
runs=5
size_mib=100
while [ $# -gt 0 ]; do
  case "$1" in
    --build) (cd "$root" && cargo build --release -p sentinel-registry -p sentinel-agent-cli) ;;
    --runs) runs=$2; shift ;;
    --size-mib) size_mib=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$runs" -ge 1 ] && [ "$runs" -le 50 ] || { echo "--runs must be 1..50" >&2; exit 2; }

work=$(mktemp -d)
server_pid=
stop_registry() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
cleanup() { stop_registry; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# shellcheck source=../interop/lib.sh
source "$root/conformance/interop/lib.sh"

fresh_registry() {
  stop_registry
  rm -rf "$work/data"
  start_registry "$registry_binary" "$work" >/dev/null || { echo "registry did not start" >&2; exit 1; }
}

agent() {
  env -i PATH="$PATH" HOME="$work/home" AGENT_CONFIG_DIR="$work/home/config" \
    AGENT_STORE="${store:-$work/home/store}" DOCKER_CONFIG="$work/home/docker" \
    "$agent_binary" "$@"
}

now() { date +%s%N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
mbps() { python3 -c "import sys; print(round($1 / 1e6 / (float(sys.argv[1]) / 1e9), 1))" "$2"; }

# The package: incompressible data, so the .sntl is as large as its content.
mkdir -p "$work/pkg/data" "$work/home"
printf 'name: bench\nversion: 1.0.0\ndescription: benchmark package\n' >"$work/pkg/agent.yaml"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/pkg/data/weights.bin"
agent pack "$work/pkg" -o "$work/bench.agent.sntl" >"$work/pack.out"
package="$work/bench.agent.sntl"
bytes=$(stat -c %s "$package")
digest=$(grep '^digest:' "$work/pack.out" | awk '{print $2}')

curl_push=() agent_push=() curl_pull=() curl_pull_sync=() agent_pull=()
for run in $(seq 1 "$runs"); do
  # curl: POST then a streamed PUT of the file.
  fresh_registry
  start=$(now)
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$addr/v2/bench/curl/blobs/uploads/" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case "$location" in http*) ;; *) location="http://$addr$location" ;; esac
  sep='?'; case "$location" in *\?*) sep='&' ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$package" \
    "$location${sep}digest=$digest" -o /dev/null
  curl_push+=($(( $(now) - start )))

  start=$(now)
  curl -fsS "http://$addr/v2/bench/curl/blobs/$digest" -o "$work/curl-download"
  curl_pull+=($(( $(now) - start )))
  rm -f "$work/curl-download"
  # The same download made durable, as agent makes every stored blob.
  start=$(now)
  curl -fsS "http://$addr/v2/bench/curl/blobs/$digest" -o "$work/curl-download"
  sync "$work/curl-download"
  curl_pull_sync+=($(( $(now) - start )))
  rm -f "$work/curl-download"

  # agent: the package is in the local store (as after `agent pack`/a build);
  # name it for this registry, then push from the store.
  if [ "$run" = 1 ]; then
    agent push "$addr/bench/agent:1.0.0" --file "$package" --quiet >/dev/null
    fresh_registry
  fi
  agent tag "$(agent images --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["reference"])')" \
    "$addr/bench/agent:1.0.0" >/dev/null
  start=$(now)
  agent push "$addr/bench/agent:1.0.0" --quiet >/dev/null
  agent_push+=($(( $(now) - start )))

  store="$work/pull-store-$run"
  start=$(now)
  agent pull "$addr/bench/agent:1.0.0" --no-extract --quiet >/dev/null
  agent_pull+=($(( $(now) - start )))
  rm -rf "$store"; unset store
done

# Every blob already there: the registry from the last run holds them.
hyperfine --style none --warmup 2 --runs 20 --export-json "$work/repush.json" \
  "env -i PATH=$PATH HOME=$work/home AGENT_CONFIG_DIR=$work/home/config AGENT_STORE=$work/home/store DOCKER_CONFIG=$work/home/docker $agent_binary push $addr/bench/agent:1.0.0 --quiet" >/dev/null
hyperfine --style none --warmup 3 --runs 50 --export-json "$work/help.json" "$agent_binary --help" >/dev/null
mean_ms() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["mean"]*1000, 1))' "$1"; }

cp_ns=$(median "${curl_push[@]}"); ap_ns=$(median "${agent_push[@]}")
cl_ns=$(median "${curl_pull[@]}"); al_ns=$(median "${agent_pull[@]}")
cs_ns=$(median "${curl_pull_sync[@]}"); cs=$(mbps "$bytes" "$cs_ns")
cp=$(mbps "$bytes" "$cp_ns"); ap=$(mbps "$bytes" "$ap_ns")
cl=$(mbps "$bytes" "$cl_ns"); al=$(mbps "$bytes" "$al_ns")
ratio() { python3 -c "import sys; print(round(float(sys.argv[1]) / float(sys.argv[2]) * 100))" "$1" "$2"; }
echo
echo "| workload ($size_mib MiB package, median of $runs) | agent | curl | agent/curl | target |"
echo "|---|---:|---:|---:|---|"
echo "| push (MB/s) | $ap | $cp | $(ratio "$ap" "$cp") % | >= 80 % |"
echo "| pull (MB/s) | $al | $cl | $(ratio "$al" "$cl") % | >= 80 % |"
echo "| pull vs curl + fsync (MB/s) | $al | $cs | $(ratio "$al" "$cs") % | |"
echo "| push, every blob present (ms, mean of 20) | $(mean_ms "$work/repush.json") | | | < 100 ms |"
echo "| agent --help (ms, mean of 50) | $(mean_ms "$work/help.json") | | | < 20 ms |"
