#!/usr/bin/env bash
# The package catalogue over HTTP (issue 12, section 5): the real
# sentinel-registry, seeded with the generated data (the catalogue file
# written through the Catalogue trait and closed cleanly), measured with wrk
# through the /v1/packages API; then, optionally, real packages published
# through the API and `sentinel-registry reindex` timed on them.
#
# Servers listen on 127.0.0.1 only; every load run is bounded in time (wrk
# -d) and every step under `timeout`. Prints one markdown table.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/catalogue/http.sh [--no-build] [--quick] [--seconds S] [--reindex N]...
                               [--publish-limit S] [--output FILE] [--keep]

  --no-build         use the binaries already built
  --quick            10,000 versions in 1,000 repositories, 3 s wrk runs (a smoke test)
  --seconds S        length of each wrk run (default 20)
  --reindex N        also publish N real packages through the API and time
                     `sentinel-registry reindex` on them (repeatable; e.g. 10000)
  --publish-limit S  stop publishing after S seconds (default 600)
  --output FILE      also write the table to FILE
  --keep             keep the working directory
  --skip-http        skip the seeded catalogue and its wrk runs (only --reindex)

Binaries: sentinel-registry from $CARGO_TARGET_DIR (default <repo>/target),
catalogue-bench from $BENCH_TARGET_DIR (default bench/catalogue/target).
Needs wrk, curl and python3.
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=1
keep=0
skip_http=0
output=
seconds=20
publish_limit=600
reindex=()
shape=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --no-build) build=0; shift ;;
    --quick) shape=(--versions 10000 --repositories 1000 --large-repositories 2 --large-versions 1000); seconds=3; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --reindex) reindex+=("$2"); shift 2 ;;
    --publish-limit) publish_limit=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --skip-http) skip_http=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "http.sh: needs $tool" >&2; exit 2; }
done

registry_target=${CARGO_TARGET_DIR:-$root/target}
bench_target=${BENCH_TARGET_DIR:-$here/target}
if [[ $build == 1 ]]; then
    (cd "$root" && CARGO_TARGET_DIR=$registry_target cargo build --release -p sentinel-registry)
    CARGO_TARGET_DIR=$bench_target cargo build --release --manifest-path "$here/Cargo.toml"
fi
registry=$registry_target/release/sentinel-registry
bench=$bench_target/release/catalogue-bench
for bin in "$registry" "$bench"; do
    [[ -x $bin ]] || { echo "http.sh: no binary at $bin (build without --no-build)" >&2; exit 2; }
done

work=$(mktemp -d -t catalogue-http.XXXXXX)
# shellcheck source=bench/catalogue/lib.sh
source "$here/lib.sh"
# VmRSS and VmHWM of the server, in MiB: "rss hwm".
memory() {
    awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "%.1f %.1f\n", r/1024, h/1024}' "/proc/$server_pid/status"
}
# User + system CPU seconds of the server so far.
cpu() {
    python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$server_pid"
}

# Starts the registry on data dir $1 with its log in $2; sets server_pid,
# port and started_ms (process start to the first 200 on /v2/).
start_server() {
    port=$(free_port)
    local t0 t1
    t0=$(date +%s%N)
    SENTINEL_LOG=info "$registry" serve --data-dir "$1" --listen "127.0.0.1:$port" --auth=false >"$2" 2>&1 &
    server_pid=$!
    for _ in $(seq 3000); do
        kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; echo "http.sh: the registry exited" >&2; exit 1; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/") == 200 ]]; then
            t1=$(date +%s%N)
            started_ms=$(( (t1 - t0) / 1000000 ))
            return
        fi
        sleep 0.02
    done
    echo "http.sh: the registry did not answer within about 60 s" >&2
    exit 1
}

# wrk over the request targets in file $1 (rotated); sets rps, p50, p99
# (ms), errors and cpu_per_request (ms of server CPU per request).
measure() {
    local targets=$1 out=$work/wrk.out script=$work/rotate.lua
    {
        echo 'local targets = {'
        while IFS= read -r target; do printf '  "%s",\n' "$target"; done <"$targets"
        echo '}'
        echo 'local i = math.random(#targets)'
        echo 'request = function()'
        echo '  i = i % #targets + 1'
        echo '  return wrk.format("GET", targets[i])'
        echo 'end'
    } >"$script"
    local cpu0 cpu1
    cpu0=$(cpu)
    timeout --kill-after=10 $((seconds + 30)) \
        wrk -t2 -c32 -d"${seconds}s" --timeout 10s --latency -s "$script" "http://127.0.0.1:$port" >"$out"
    cpu1=$(cpu)
    cat "$out" >&2
    to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000} printf "%.2f", v}'; }
    rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")
    p50=$(awk '$1=="50%"{print $2}' "$out" | to_ms)
    p99=$(awk '$1=="99%"{print $2}' "$out" | to_ms)
    local requests
    requests=$(awk '/requests in/{print $1}' "$out")
    errors=$(awk '/Non-2xx/{n=$NF} /Socket errors/{n=n" socket: "$0} END{print n+0}' "$out")
    cpu_per_request=$(python3 -c 'import sys; c0,c1,n=map(float,sys.argv[1:]); print(f"{(c1-c0)*1000/max(n,1):.2f}")' "$cpu0" "$cpu1" "$requests")
}

verdict() { # value op target
    python3 -c 'import sys; v,op,t=float(sys.argv[1]),sys.argv[2],float(sys.argv[3]); ok = v<t if op=="<" else v>=t; print("met" if ok else f"missed ({v/t:.1f}× the target)" if op=="<" else f"missed ({v/t*100:.0f}% of the target)")' "$1" "$2" "$3"
}

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 |"); }

started=$(date -u +%s)
load_start=$(load)

"$bench" paths "${shape[@]}" >"$work/paths.tsv"
cut -f2 "$work/paths.tsv" | grep '^/v1/packages/search' >"$work/search.txt"
if [[ $skip_http == 0 ]]; then
# 1. Seed the catalogue through the Catalogue trait, closed cleanly.
echo "== seeding (load $(load))" >&2
data=$work/data
t0=$(date +%s%N)
timeout --kill-after=10 600 "$bench" seed --data-dir "$data" "${shape[@]}" >&2
seed_s=$(python3 -c "print(f'{($(date +%s%N)-$t0)/1e9:.1f}')")
large=$(awk -F'\t' '$1=="large"{print $2}' "$work/paths.tsv")
row "seed the catalogue file (Catalogue::record, close)" "$seed_s s" "—" "—" "$(load)"

# 2. Start the registry on it.
echo "== starting the registry (load $(load))" >&2
log=$work/registry.log
start_server "$data" "$log"
if grep -q "not closed cleanly" "$log"; then reconciled="reconciled at start (log says so)"; else reconciled="no (clean close honoured)"; fi
read -r rss0 hwm0 < <(memory)
row "time to start (process start to first 200 on /v2/)" "$started_ms ms" "—" "catalogue re-checked: $reconciled" "$(load)"
row "RSS after start (VmRSS / VmHWM)" "$rss0 / $hwm0 MiB" "< 200 MiB" "$(verdict "$hwm0" '<' 200)" "$(load)"

# Every target answers 200 before it is measured.
while IFS= read -r target; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$target")
    [[ $code == 200 ]] || { echo "http.sh: $target answered $code" >&2; exit 1; }
done < <(cat "$work/search.txt"; echo "/v1/packages/$large/versions"; echo "/v1/packages/$large/latest/info")
count=$(curl -s "http://127.0.0.1:$port/v1/packages/$large/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))')

# 3. Load.
echo "== search, mixed set of $(wc -l <"$work/search.txt") queries (load $(load))" >&2
measure "$work/search.txt"
l=$(load)
row "search: throughput (32 connections, mixed queries)" "$rps /s" "≥ 2,000 /s" "$(verdict "$rps" '>=' 2000)" "$l"
row "search: p50 / p99" "$p50 / $p99 ms" "p99 < 20 ms" "$(verdict "$p99" '<' 20)" "$l"
row "search: server CPU per request; non-2xx" "$cpu_per_request ms; $errors" "—" "—" "$l"

echo "/v1/packages/$large/versions" >"$work/versions.txt"
echo "== versions of $large ($count versions) (load $(load))" >&2
measure "$work/versions.txt"
l=$(load)
row "versions of a $count-version repository: throughput" "$rps /s" "—" "—" "$l"
row "versions of a $count-version repository: p50 / p99" "$p50 / $p99 ms" "p99 < 5 ms" "$(verdict "$p99" '<' 5)" "$l"
row "versions: server CPU per request; non-2xx" "$cpu_per_request ms; $errors" "—" "—" "$l"

echo "/v1/packages/$large/latest/info" >"$work/info.txt"
echo "== latest/info of $large (load $(load))" >&2
measure "$work/info.txt"
l=$(load)
row "latest/info: throughput" "$rps /s" "—" "—" "$l"
row "latest/info: p50 / p99" "$p50 / $p99 ms" "—" "—" "$l"
row "latest/info: server CPU per request; non-2xx" "$cpu_per_request ms; $errors" "—" "—" "$l"

read -r rss1 hwm1 < <(memory)
row "RSS after the load (VmRSS / VmHWM)" "$rss1 / $hwm1 MiB" "< 200 MiB" "$(verdict "$hwm1" '<' 200)" "$(load)"
stop_server

fi

# 4. Real packages through the API, then reindex.
for n in "${reindex[@]}"; do
    repos=$(( n / 10 ))
    large_n=$(( n >= 100000 ? 10 : (n >= 10000 ? 2 : 1) ))
    large_v=$(( n >= 10000 ? 1000 : n / 10 ))
    real=$work/real-$n
    echo "== publishing $n real packages (load $(load))" >&2
    start_server "$real" "$work/registry-$n.log"
    timeout --kill-after=10 $((publish_limit + 120)) "$bench" seed-registry --server "127.0.0.1:$port" \
        --versions "$n" --repositories "$repos" --large-repositories "$large_n" --large-versions "$large_v" \
        --tasks 16 --limit "$publish_limit" | tee "$work/publish-$n.txt" >&2
    published=$(awk -F' = ' '/versions published/{gsub(",","",$2); print $2+0}' "$work/publish-$n.txt")
    rate=$(awk -F' = ' '/publish rate/{print $2}' "$work/publish-$n.txt")
    row "publish $n real packages, 16 in flight (PUT /v1/packages/publish)" "$published in $(awk -F' = ' '/publish, wall time/{print $2}' "$work/publish-$n.txt"), $rate" "—" "—" "$(load)"
    # Touch the catalogue as a client would, then read the memory.
    for target in $(cat "$work/search.txt"); do curl -s -o /dev/null "http://127.0.0.1:$port$target"; done
    read -r rss hwm < <(memory)
    row "RSS serving $published real versions (VmRSS / VmHWM)" "$rss / $hwm MiB" "—" "—" "$(load)"
    stop_server
    echo "== reindex of $published versions (load $(load))" >&2
    t0=$(date +%s%N)
    timeout --kill-after=10 900 "$registry" reindex --data-dir "$real" 2>&1 | tee "$work/reindex-$n.txt" >&2
    reindex_s=$(python3 -c "print(f'{($(date +%s%N)-$t0)/1e9:.1f}')")
    vps=$(python3 -c "print(f'{$published/$reindex_s:,.0f}')")
    target="—"; v="—"
    if [[ $n -ge 100000 ]]; then target="< 60 s"; v=$(verdict "$reindex_s" '<' 60); fi
    row "reindex of $published real versions" "$reindex_s s ($vps versions/s)" "$target" "$v" "$(load)"
    # The same data served by a fresh process: memory without the history
    # of the pushes.
    start_server "$real" "$work/registry-$n-restart.log"
    if grep -q "not closed cleanly" "$work/registry-$n-restart.log"; then again="reconciled at start"; else again="catalogue not re-checked"; fi
    for target in $(cat "$work/search.txt"); do curl -s -o /dev/null "http://127.0.0.1:$port$target"; done
    read -r rss hwm < <(memory)
    target="—"; v=$again
    if [[ $n -ge 100000 ]]; then target="< 200 MiB"; v="$(verdict "$hwm" '<' 200) ($again)"; fi
    row "restart on the $published real versions: time to first 200; RSS after the searches (VmRSS / VmHWM)" "$started_ms ms; $rss / $hwm MiB" "$target" "$v" "$(load)"
    stop_server
    rm -rf "$real"
done

report() {
    echo "Run of $(date -u -d "@$started" '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$(nproc) cores, load average $load_start at the start and $(load) at the end, $(( $(date -u +%s) - started )) s." \
        "Options: ${shape[*]:-100,000 versions in 10,000 repositories}; wrk -t2 -c32 -d${seconds}s."
    echo
    echo "| measure | figure | target | verdict | load average (1, 5, 15 min) |"
    echo "|---|---:|---|---|---|"
    printf '%s\n' "${rows[@]}"
}
if [[ -n $output ]]; then report | tee "$output"; else report; fi
