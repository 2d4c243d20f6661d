#!/usr/bin/env bash
# Measures what authentication costs sentinel-registry (release build) on
# 127.0.0.1, with wrk, and prints a markdown table of medians:
#   - manifest GET by tag (req/s, p99, server CPU per request) on a registry
#     with auth off (off), with auth on and a bearer token fetched once from
#     /token (bearer; --token-ttl 3600), and with auth on and alice's Basic
#     credentials on every request (basic; argon2 once, then the password
#     cache). bearer/off is the cost of auth: target >= 0.85;
#   - GET /token issuance with alice's Basic credentials (token-basic, scope
#     pull,push on alice/app) and anonymously (token-anon, pull on the public
#     alice/public): target >= 2,000 tokens/s.
# Every run gets a fresh registry with its data in a temporary directory and
# a warm-up; the modes take turns in each round (rotating which goes first),
# so background load hits all alike. The load average is recorded with each
# run: figures from a busy machine are noisy, and server CPU per request is
# the steadier measure of cost.
#
#   conformance/bench/auth.sh [--build] [--runs N] [--duration S] [--warmup S]
#                             [--connections N] [--threads N] [--only LIST]
#                             [--failed-logins N] [--perf]
#
#   --build        cargo build --release -p sentinel-registry first
#   --runs N       runs per mode (default 3)
#   --duration S   seconds per measured wrk run (default 10)
#   --warmup S     seconds of wrk before each measured run (default 3)
#   --connections  wrk connections (default 32); --threads: wrk threads (2)
#   --only LIST    comma-separated modes: off,bearer,basic,token-basic,
#                  token-anon (the default), and anon-401 (auth on, GET /v2/
#                  without credentials: the gate's refusal path, all 401)
#   --failed-logins N  pass --failed-logins-per-minute N to the registries
#                  (default: the registry's own, 10)
#   --perf         then run each GET mode once more under `perf record` and
#                  print the server's hottest functions (not in the table)
#
# Needs curl, wrk and python3 (parsing, medians); perf for --perf.
# Takes about (warm-up + duration + 2 s) x runs x modes: ~4 min by default.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
registry_binary="$root/target/release/sentinel-registry"
runs=3
duration=10
warmup=3
connections=32
threads=2
only="off,bearer,basic,token-basic,token-anon"
failed_logins=
profile=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) (cd "$root" && cargo build --release -p sentinel-registry) ;;
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; shift ;;
    --only) only=$2; shift ;;
    --failed-logins) failed_logins=$2; shift ;;
    --perf) profile=1 ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$runs" -ge 1 ] && [ "$runs" -le 20 ] || { echo "--runs must be 1..20" >&2; exit 2; }
[ "$duration" -ge 1 ] && [ "$duration" -le 300 ] || { echo "--duration must be 1..300" >&2; exit 2; }
[[ "$failed_logins" =~ ^[0-9]*$ ]] || { echo "--failed-logins must be a number" >&2; exit 2; }
[ "$warmup" -ge 0 ] && [ "$warmup" -le 60 ] || { echo "--warmup must be 0..60" >&2; exit 2; }
for tool in curl wrk python3; do
  command -v "$tool" >/dev/null || { echo "auth.sh: $tool is needed" >&2; exit 2; }
done
[ "$profile" = 0 ] || command -v perf >/dev/null || { echo "auth.sh: --perf needs perf" >&2; exit 2; }
[ -x "$registry_binary" ] || { echo "auth.sh: no binary at $registry_binary (try --build)" >&2; exit 2; }
IFS=, read -r -a modes <<<"$only"
for mode in "${modes[@]}"; do
  case "$mode" in off|bearer|basic|token-basic|token-anon|anon-401) ;;
    *) echo "auth.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
server_pid=
perf_pid=
stop_registry() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=../interop/lib.sh
source "$root/conformance/interop/lib.sh"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# User + system CPU time of a process, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ticks_per_second=$(getconf CLK_TCK)

user=alice
password=bench-password-1
basic_header="Authorization: Basic $(printf '%s:%s' "$user" "$password" | base64 -w0)"
oci_manifest=application/vnd.oci.image.manifest.v1+json
accept="Accept: $oci_manifest"
manifest_path=/v2/alice/app/manifests/v1
token_basic_path="/token?service=sentinel-registry&scope=repository:alice/app:pull,push"
token_anon_path="/token?service=sentinel-registry&scope=repository:alice/public:pull"

# The data every registry starts from: user alice (publisher) and the public
# repository alice/public, made once and copied for each run.
"$registry_binary" user add "$user" --role publisher --password-stdin \
  --data-dir "$work/template" <<<"$password" >/dev/null
"$registry_binary" repo visibility alice/public public --data-dir "$work/template" >/dev/null

# A small image: config, one 1 KiB layer, and its manifest.
mkdir -p "$work/image"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/image/config"
head -c 1024 /dev/urandom >"$work/image/layer"
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
config_digest=$(sha "$work/image/config")
layer_digest=$(sha "$work/image/layer")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
  "$oci_manifest" "$config_digest" "$(stat -c %s "$work/image/config")" \
  "$layer_digest" "$(stat -c %s "$work/image/layer")" >"$work/image/manifest"

# curl with a time bound, as alice.
acurl() { curl -fsS --noproxy '*' --max-time 30 -u "$user:$password" "$@"; }

push_blob() {
  local file=$1 digest=$2 location sep
  location=$(acurl -X POST -D - -o /dev/null "http://$addr/v2/alice/app/blobs/uploads/" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case "$location" in http*) ;; *) location="http://$addr$location" ;; esac
  sep='?'; case "$location" in *\?*) sep='&' ;; esac
  acurl -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
    "$location${sep}digest=$digest" -o /dev/null
}

push_image() {
  push_blob "$work/image/config" "$config_digest"
  push_blob "$work/image/layer" "$layer_digest"
  acurl -X PUT -H "Content-Type: $oci_manifest" --data-binary "@$work/image/manifest" \
    "http://$addr$manifest_path" -o /dev/null
}

# fresh_registry MODE: a registry with the template's data, auth off for
# `off` and on (tokens valid for an hour) otherwise; the image pushed.
fresh_registry() {
  stop_registry
  rm -rf "$work/data"
  cp -r "$work/template" "$work/data"
  local options=(--auth --token-ttl 3600)
  [ "$1" = off ] && options=(--auth=false)
  [ -z "$failed_logins" ] || options+=(--failed-logins-per-minute "$failed_logins")
  start_registry "$registry_binary" "$work" "${options[@]}" >/dev/null ||
    { echo "auth.sh: the registry did not start:" >&2; tail -n 5 "$work/server.log" >&2; exit 1; }
  push_image
}

# The token in a /token answer on stdin, after checking that it grants
# `actions` on `repository` (an empty grant would also answer 200).
token_granting() {
  python3 -c '
import base64, json, sys
token = json.load(sys.stdin)["token"]
payload = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
name, actions = sys.argv[1], sys.argv[2].split(",")
granted = [a for e in claims["access"] if e["name"] == name for a in e["actions"]]
if sorted(granted) != sorted(actions):
    sys.exit(f"the token grants {granted} on {name}, not {actions}")
print(token)
' "$@"
}

# request_for MODE: sets `path` and `headers` (wrk -H arguments) for MODE,
# and checks once with curl that the registry answers as expected.
request_for() {
  headers=()
  case "$1" in
    off|bearer|basic)
      path=$manifest_path
      headers=(-H "$accept")
      case "$1" in
        bearer)
          token=$(acurl "http://$addr$token_basic_path" | token_granting alice/app pull,push)
          headers+=(-H "Authorization: Bearer $token") ;;
        basic) headers+=(-H "$basic_header") ;;
      esac
      curl -fsS --noproxy '*' --max-time 30 "${headers[@]}" "http://$addr$path" -o "$work/got"
      cmp -s "$work/got" "$work/image/manifest" || { echo "auth.sh: $1: GET returned other bytes" >&2; exit 1; }
      ;;
    token-basic)
      path=$token_basic_path
      headers=(-H "$basic_header")
      acurl "http://$addr$path" | token_granting alice/app pull,push >/dev/null
      ;;
    token-anon)
      path=$token_anon_path
      curl -fsS --noproxy '*' --max-time 30 "http://$addr$path" |
        token_granting alice/public pull >/dev/null
      ;;
    anon-401)
      path=/v2/
      [ "$(curl -sS --noproxy '*' --max-time 30 -o /dev/null -w '%{http_code}' "http://$addr$path")" = 401 ] ||
        { echo "auth.sh: anon-401: GET /v2/ did not answer 401" >&2; exit 1; }
      ;;
  esac
}

# run_wrk SECONDS OUTFILE: wrk on the current mode's request, bounded in time.
run_wrk() {
  timeout $(($1 + 60)) wrk -t"$threads" -c"$connections" -d"$1"s --latency --timeout 10s \
    "${headers[@]}" "http://$addr$path" >"$2"
}

# Figures of a wrk report: requests/s, p99 in ms, requests, non-2xx, socket errors.
wrk_figures() {
  python3 -c '
import re, sys
out = open(sys.argv[1]).read()
units = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
count = int(re.search(r"(\d+) requests in", out).group(1))
p99 = next(float(v) * units[u] for p, v, u in re.findall(r"^\s+(99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M))
non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
print(rps, p99, count, int(non_2xx.group(1)) if non_2xx else 0,
      sum(map(int, errors.groups())) if errors else 0)
' "$1"
}

# measure MODE RUN: one run on a fresh registry; appends a line to results.
measure() {
  local mode=$1 run=$2 before after rps p99 count non_2xx errors cpu_us
  fresh_registry "$mode"
  request_for "$mode"
  [ "$warmup" = 0 ] || run_wrk "$warmup" "$work/warmup.out"
  sync
  local load_before; load_before=$(load)
  before=$(cpu_ticks "$server_pid")
  run_wrk "$duration" "$work/wrk.out"
  after=$(cpu_ticks "$server_pid")
  read -r rps p99 count non_2xx errors <<<"$(wrk_figures "$work/wrk.out")"
  if [ "$mode" = anon-401 ]; then
    [ "$non_2xx" = "$count" ] || { echo "auth.sh: anon-401: $((count - non_2xx)) answers were not 401" >&2; exit 1; }
  elif [ "$non_2xx" != 0 ] || [ "$errors" != 0 ]; then
    echo "auth.sh: $mode: $non_2xx non-2xx answers, $errors socket errors" >&2
    tail -n 3 "$work/server.log" >&2
    exit 1
  fi
  cpu_us=$(python3 -c "import sys; print(round(($after - $before) / $ticks_per_second / max($count, 1) * 1e6, 1))")
  log "$(printf '%-11s run %d: %8.0f req/s  p99 %6.2f ms  server CPU %6.1f µs/req  load %s' \
    "$mode" "$run" "$rps" "$p99" "$cpu_us" "$load_before")"
  echo "$mode $run $rps $p99 $cpu_us $load_before" >>"$work/results"
  stop_registry
}

log "sentinel-registry $("$registry_binary" --version 2>/dev/null | awk '{print $NF}'), $(nproc) CPUs, load $(load); \
$runs x ${duration} s per mode after ${warmup} s warm-up, $connections connections, $threads wrk threads"
load_at_start=$(load)
: >"$work/results"
for run in $(seq 1 "$runs"); do
  count=${#modes[@]}
  for i in $(seq 0 $((count - 1))); do
    measure "${modes[$(((i + run - 1) % count))]}" "$run"
  done
done
load_at_end=$(load)

echo
python3 - "$work/results" "$runs" "$duration" "$connections" "$threads" "$load_at_start" "$load_at_end" <<'EOF'
import statistics, sys
path, runs, duration, connections, threads, load_start, load_end = sys.argv[1:]
rows = {}
for line in open(path):
    mode, run, rps, p99, cpu, *load = line.split()
    rows.setdefault(mode, []).append((int(run), float(rps), float(p99), float(cpu), load[0]))
med = lambda mode, i: statistics.median(r[i] for r in rows[mode])
labels = {
    "off": "manifest GET, auth off",
    "bearer": "manifest GET, auth on, Bearer token",
    "basic": "manifest GET, auth on, Basic every request",
    "anon-401": "GET /v2/, auth on, no credentials (401)",
    "token-basic": "GET /token, alice Basic (pull,push)",
    "token-anon": "GET /token, anonymous (public pull)",
}
targets = {"token-basic": 2000, "token-anon": 2000}
print(f"| workload (median of {runs} x {duration} s, {connections} conn, {threads} wrk threads) "
      "| req/s | p99 (ms) | server CPU (µs/req) | target | verdict | load (1 min) per run |")
print("|---|---:|---:|---:|---|---|---|")
for mode, label in labels.items():
    if mode not in rows:
        continue
    rps = med(mode, 1)
    target = targets.get(mode)
    verdict = ("met" if rps >= target else "**MISSED**") if target else "—"
    loads = " ".join(r[4] for r in sorted(rows[mode]))
    print(f"| {label} | {rps:,.0f} | {med(mode, 2):.2f} | {med(mode, 3):.1f} | "
          f"{f'>= {target:,}/s' if target else '—'} | {verdict} | {loads} |")
print()
for mode in ("bearer", "basic"):
    if mode in rows and "off" in rows:
        ratio = med(mode, 1) / med("off", 1)
        by_run = {r[0]: r[1] for r in rows["off"]}
        per_round = " ".join(f"{r[1] / by_run[r[0]]:.2f}" for r in sorted(rows[mode]) if r[0] in by_run)
        cpu_ratio = med("off", 3) / med(mode, 3)
        verdict = ""
        if mode == "bearer":
            verdict = " — target >= 0.85: " + ("met" if ratio >= 0.85 else "**MISSED**")
        print(f"- {mode}/off req/s: {ratio:.2f} (per round: {per_round}); "
              f"off/{mode} server CPU per request: {cpu_ratio:.2f}{verdict}")
print(f"- load average (1, 5, 15 min): {load_start} at start, {load_end} at end")
EOF

if [ "$profile" = 1 ]; then
  for mode in "${modes[@]}"; do
    case "$mode" in token-*) continue ;; esac
    fresh_registry "$mode"
    request_for "$mode"
    [ "$warmup" = 0 ] || run_wrk "$warmup" "$work/warmup.out"
    perf record -q -F 999 -p "$server_pid" -o "$work/perf-$mode.data" -- sleep "$duration" 2>/dev/null &
    perf_pid=$!
    run_wrk "$duration" "$work/wrk.out"
    wait "$perf_pid" || true
    perf_pid=
    echo
    echo "perf, $mode: the server's hottest functions (self time, >= 1 %)"
    perf report -q --no-children --percent-limit 1 --sort dso,symbol --stdio \
      -i "$work/perf-$mode.data" 2>/dev/null |
      sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' |
      grep -v '^$' | head -n 40 || true
    stop_registry
  done
fi
