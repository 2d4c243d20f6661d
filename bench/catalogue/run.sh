#!/usr/bin/env bash
# The catalogue search benchmark of issue 12: builds catalogue-bench in
# release, then runs each step in its own process on the same generated data
# and the same queries -- the embedded catalogue (record, reopen, search),
# tantivy in RAM, tantivy on an mmap directory -- and prints one markdown
# table. Every step is bounded in time; the whole run takes about 5 minutes
# on 2 cores with the defaults.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/catalogue/run.sh [--quick] [--no-build] [--output FILE] [--keep] [-- STEP-OPTIONS...]

  --quick       10,000 versions in 1,000 repositories, 1 s search runs (a smoke test)
  --no-build    use the binary already built
  --output FILE also write the table to FILE (and the raw figures to FILE.jsonl)
  --keep        keep the working directory (catalogue file, tantivy index)
  STEP-OPTIONS  passed to every step, e.g. --seed 7 --seconds 10 --tasks 16
                (see: catalogue-bench embedded-search --help)
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
build=1
keep=0
output=
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) extra+=(--versions 10000 --repositories 1000 --large-repositories 2 --large-versions 1000 --seconds 1); shift ;;
    --no-build) build=0; shift ;;
    --output) output=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) usage >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$here/target}
if [[ $build == 1 ]]; then
    cargo build --release --manifest-path "$here/Cargo.toml"
fi
bin=$target/release/catalogue-bench

work=$(mktemp -d -t catalogue-bench.XXXXXX)
cleanup() {
    if [[ $keep == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
results=$work/results.jsonl

# Each step runs under a time limit; the steps limit their own loops too.
step() {
    echo "== $*" >&2
    timeout --signal=TERM --kill-after=10 240 "$bin" "$@" --results "$results" "${extra[@]}" >&2
}

started=$(date -u +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
step embedded-load --file "$work/catalogue.redb"
step embedded-search --file "$work/catalogue.redb"
step tantivy-index --mode ram
mkdir "$work/tantivy"
step tantivy-index --mode mmap --dir "$work/tantivy"
step tantivy-search --dir "$work/tantivy"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

report() {
    echo "Run of $(date -u -d "@$started" '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$(nproc) cores, load average $load_before at the start and $load_after at the end," \
        "$(( $(date -u +%s) - started )) s. Options: ${extra[*]:-defaults}."
    echo
    "$bin" table --results "$results"
}
if [[ -n $output ]]; then
    report | tee "$output"
    cp "$results" "$output.jsonl"
else
    report
fi
