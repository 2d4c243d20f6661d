#!/usr/bin/env bash
# The web UI's pages on the package catalogue's benchmark data (issue 16:
# every page under 30 ms at p99 and under 100 KB without the README): the
# real sentinel-registry, its catalogue seeded with the generated 100,000
# versions (as bench/catalogue/http.sh does), or --published: the same
# versions packed and published through the API (the metadata index, blobs
# and READMEs too). Each page is measured with wrk on 127.0.0.1 (bounded
# runs): p50/p99 latency one request at a time (the time to render it, the
# target's measure), then requests/s and latency with 32 connections; and
# weighed: its HTML in bytes without the README's rendered HTML, and with
# the assets it links.
#
# A page that answers 404 is skipped with a line saying so (a repository
# page on the seeded data, whose metadata index is empty, or a page of
# --url not in this build); any other answer but 200 is reported and makes
# the exit code 1. Prints one markdown table.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/catalogue/ui.sh [--no-build] [--quick] [--seconds S] [--connections C]
                             [--published] [--publish-limit S] [--registry BINARY]
                             [--url PATH]... [--urls FILE] [--output FILE] [--keep]

  --no-build         use the binaries already built
  --quick            10,000 versions in 1,000 repositories, 3 s wrk runs (a smoke test)
  --seconds S        length of each wrk run (default 10; two runs a page)
  --connections C    wrk connections of the throughput run (default 32, on 2
                     threads); the latency run has one
  --published        publish the generated versions as real packages through
                     PUT /v1/packages/publish (16 in flight) instead of seeding
                     the catalogue file: every page then has its manifest, blobs
                     and README (100,000 versions take about 4 minutes)
  --publish-limit S  stop publishing after S seconds (default 600)
  --registry BINARY  the sentinel-registry to measure (default: the release
                     build in $CARGO_TARGET_DIR, built unless --no-build)
  --url PATH         a page to measure (repeatable; replaces the default list)
  --urls FILE        pages to measure, one path a line (# starts a comment)
  --output FILE      also write the table to FILE
  --keep             keep the working directory

In a path, {large} is the generated repository with about 1,000 versions,
{version} one of its versions (the middle one by semver), {capability} the
capability of the standard capability query. The default pages:
  /  /search?q=data  /search?capability={capability}  /search?q=web&sort=downloads
  /packages/{large}  /packages/{large}/{version}  /repositories  /repositories/{large}

Binaries: sentinel-registry from $CARGO_TARGET_DIR (default <repo>/target),
catalogue-bench from $BENCH_TARGET_DIR (default bench/catalogue/target).
Needs wrk, curl and python3.
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=1
keep=0
published=0
publish_limit=600
output=
seconds=10
connections=32
registry=
urls=()
shape=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --no-build) build=0; shift ;;
    --quick) shape=(--versions 10000 --repositories 1000 --large-repositories 2 --large-versions 1000); seconds=3; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --published) published=1; shift ;;
    --publish-limit) publish_limit=$2; shift 2 ;;
    --registry) registry=$2; shift 2 ;;
    --url) urls+=("$2"); shift 2 ;;
    --urls)
        while IFS= read -r line; do
            line=${line%%#*}
            line=${line//[[:space:]]/}
            [[ -n $line ]] && urls+=("$line")
        done <"$2"
        shift 2
        ;;
    --output) output=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "ui.sh: needs $tool" >&2; exit 2; }
done
if [[ ${#urls[@]} == 0 ]]; then
    urls=(/ '/search?q=data' '/search?capability={capability}' '/search?q=web&sort=downloads'
        '/packages/{large}' '/packages/{large}/{version}' /repositories '/repositories/{large}')
fi

registry_target=${CARGO_TARGET_DIR:-$root/target}
bench_target=${BENCH_TARGET_DIR:-$here/target}
if [[ $build == 1 ]]; then
    [[ -z $registry ]] && (cd "$root" && CARGO_TARGET_DIR=$registry_target cargo build --release -p sentinel-registry)
    CARGO_TARGET_DIR=$bench_target cargo build --release --no-default-features --manifest-path "$here/Cargo.toml"
fi
registry=${registry:-$registry_target/release/sentinel-registry}
bench=$bench_target/release/catalogue-bench
for bin in "$registry" "$bench"; do
    [[ -x $bin ]] || { echo "ui.sh: no binary at $bin (build without --no-build)" >&2; exit 2; }
done

work=$(mktemp -d -t catalogue-ui.XXXXXX)
# shellcheck source=bench/catalogue/lib.sh
source "$here/lib.sh"
# User + system CPU seconds of the server so far.
cpu() {
    python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$server_pid"
}

# Starts the registry on data dir $1 with its log in $2 (authentication off:
# the pages are measured as an anonymous visitor sees them); sets
# server_pid and port.
start_server() {
    port=$(free_port)
    SENTINEL_LOG=warn "$registry" serve --data-dir "$1" --listen "127.0.0.1:$port" --auth=false >"$2" 2>&1 &
    server_pid=$!
    for _ in $(seq 3000); do
        kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; echo "ui.sh: the registry exited" >&2; exit 1; }
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/") == 200 ]] && return
        sleep 0.02
    done
    echo "ui.sh: the registry did not answer within about 60 s" >&2
    exit 1
}

# wrk on one target $1 with $2 threads and $3 connections; sets rps, p50,
# p99 (ms), errors and cpu_per_request.
measure() {
    local target=$1 threads=$2 open=$3 out=$work/wrk.out
    local cpu0 cpu1
    cpu0=$(cpu)
    timeout --kill-after=10 $((seconds + 30)) \
        wrk -t"$threads" -c"$open" -d"${seconds}s" --timeout 10s --latency "http://127.0.0.1:$port$target" >"$out"
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

# The weight of the page saved in $1: "HTML-bytes README-bytes" (the
# README's bytes are those of the element with id="readme", its tags
# included; 0 without one).
weigh() {
    python3 - "$1" <<'PY'
import sys
from html.parser import HTMLParser
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8", "replace")
lines = [0]
for index, char in enumerate(text):
    if char == "\n":
        lines.append(index + 1)
class Readme(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tag = self.start = self.end = None
        self.depth = 0
    def position(self):
        line, column = self.getpos()
        return lines[line - 1] + column
    def handle_starttag(self, tag, attrs):
        if self.start is None and dict(attrs).get("id") == "readme":
            self.tag, self.start, self.depth = tag, self.position(), 1
        elif self.end is None and tag == self.tag:
            self.depth += 1
    def handle_endtag(self, tag):
        if self.start is not None and self.end is None and tag == self.tag:
            self.depth -= 1
            if self.depth == 0:
                self.end = self.position() + len(f"</{tag}>")
parser = Readme()
parser.feed(text)
readme = 0
if parser.start is not None:
    readme = len(text[parser.start:parser.end if parser.end is not None else len(text)].encode())
print(len(data), readme)
PY
}

# The assets a page links (stylesheet, script, icon), their bytes summed.
asset_bytes() {
    local total=0 asset size
    for asset in $(grep -o '/assets/[^"]*' "$1" | sort -u); do
        size=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port$asset")
        total=$((total + size))
    done
    echo "$total"
}

verdict() { # value op target
    python3 -c 'import sys; v,op,t=float(sys.argv[1]),sys.argv[2],float(sys.argv[3]); ok = v<t if op=="<" else v>=t; print("met" if ok else f"missed ({v/t:.1f}× the target)")' "$1" "$2" "$3"
}

rows=()
skipped=()
failed=0
started=$(date -u +%s)
load_start=$(load)

"$bench" paths "${shape[@]}" >"$work/paths.tsv"
large=$(awk -F'\t' '$1=="large"{print $2}' "$work/paths.tsv")
capability=$(awk -F'\t' '$1 ~ /^no text, capability/{print $2}' "$work/paths.tsv" | sed -n 's/.*[?&]capability=\([^&]*\).*/\1/p' | head -n1)

data=$work/data
if [[ $published == 0 ]]; then
    echo "== seeding the catalogue (load $(load))" >&2
    timeout --kill-after=10 600 "$bench" seed --data-dir "$data" "${shape[@]}" >&2
    start_server "$data" "$work/registry.log"
    how="the catalogue file seeded through Catalogue::record (no manifests, blobs or READMEs)"
else
    start_server "$data" "$work/registry.log"
    echo "== publishing the generated versions (load $(load))" >&2
    timeout --kill-after=10 $((publish_limit + 120)) "$bench" seed-registry --server "127.0.0.1:$port" \
        "${shape[@]}" --tasks 16 --limit "$publish_limit" | tee "$work/publish.txt" >&2
    how="$(awk -F' = ' '/versions published/{print $2}' "$work/publish.txt") versions published through PUT /v1/packages/publish"
fi

# {version}: the middle of the large repository's versions.
version=$(curl -s "http://127.0.0.1:$port/v1/packages/$large/versions" |
    python3 -c 'import json,sys; v=[x["version"] for x in json.load(sys.stdin).get("versions", [])]; print(v[len(v)//2] if v else "")' 2>/dev/null || true)
count=$(curl -s "http://127.0.0.1:$port/v1/packages/$large/versions" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("versions", [])))' 2>/dev/null || echo 0)

for template in "${urls[@]}"; do
    target=${template//\{large\}/$large}
    target=${target//\{version\}/$version}
    target=${target//\{capability\}/$capability}
    page=$work/page.html
    code=$(curl -s -o "$page" -w '%{http_code}' "http://127.0.0.1:$port$target")
    if [[ $code == 404 ]]; then
        echo "ui.sh: skipping $target: it answers 404 (no such repository in the seeded data, or no such page in this build)" >&2
        skipped+=("$target")
        continue
    fi
    if [[ $code != 200 ]]; then
        echo "ui.sh: $target answered $code" >&2
        rows+=("| \`$target\` | answered $code | — | — | — | — | failed |")
        failed=1
        continue
    fi
    read -r bytes readme < <(weigh "$page")
    assets=$(asset_bytes "$page")
    without=$((bytes - readme))
    echo "== $target: $bytes bytes, README $readme (load $(load))" >&2
    # The time to render a page: one request at a time.
    measure "$target" 1 1
    latency=$(verdict "$p99" '<' 30)
    alone="$p50 / $p99 ms"
    alone_errors=$errors
    # Throughput: $connections connections, the server's two cores busy.
    measure "$target" 2 "$connections"
    l=$(load)
    weight=$(verdict "$without" '<' 100000)
    rows+=("| \`$target\` | $alone | $rps /s; $p50 / $p99 ms | $cpu_per_request ms; $((alone_errors + errors)) | $without B (+ README $readme B, + assets $assets B) | p99: $latency; weight: $weight | $l |")
done
stop_server

report() {
    echo "Run of $(date -u -d "@$started" '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$(nproc) cores, load average $load_start at the start and $(load) at the end, $(( $(date -u +%s) - started )) s." \
        "Data: ${shape[*]:-100,000 versions in 10,000 repositories}; $how; {large} = $large ($count versions), {version} = $version." \
        "Each page alone, twice: wrk -t1 -c1 (the time to render it) and wrk -t2 -c$connections (throughput), -d${seconds}s each; registry $(basename "$(dirname "$registry")") build, authentication off."
    echo
    echo "| page | p50 / p99, 1 connection | throughput; p50 / p99, $connections connections | server CPU per request; non-2xx | HTML without the README | verdict (p99 alone < 30 ms, < 100,000 B) | load average |"
    echo "|---|---:|---:|---|---:|---|---|"
    printf '%s\n' "${rows[@]}"
    if [[ ${#skipped[@]} -gt 0 ]]; then
        echo
        echo "Skipped (404): $(printf '`%s` ' "${skipped[@]}")"
    fi
}
if [[ -n $output ]]; then report | tee "$output"; else report; fi
exit "$failed"
