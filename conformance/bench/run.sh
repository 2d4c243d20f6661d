#!/usr/bin/env bash
# Benchmarks Sentinel against CNCF Distribution (Debian's docker-registry)
# with the same workload, both started side by side on 127.0.0.1, and prints
# a markdown table: | workload | sentinel | distribution | ratio | target | verdict |
#
#   conformance/bench/run.sh [--build] [--sentinel BIN] [--distribution BIN]
#                            [--agent BIN] [--sign-manifest BIN] [--output FILE] [--quick]
#                            [bench.py options...]
#
#   --build            cargo build --release -p sentinel-registry -p sentinel-agent-cli
#                      (and the sign_manifest example) first
#   --sentinel BIN     default: target/release/sentinel-registry
#   --distribution BIN default: /usr/bin/docker-registry
#   --agent BIN        the agent CLI, which makes the packages workload's packages
#                      (default: target/release/agent; without it that workload is skipped)
#   --sign-manifest BIN the sign_manifest example, which signs the signed-get workload's image
#                      (default: target/release/examples/sign_manifest; without it, skipped)
#   --output FILE      also write the report to FILE (and raw figures to FILE.json)
#   --quick            a smoke test: small blob, few tags and repos, short runs
#
# Any other option goes to bench.py (python3 conformance/bench/bench.py --help):
# --reps, --duration, --only mono,single,chunked,pull,get,head,tags,small,packages,signed-get,catalog,
# --packages N (package pushes per run; default --small-pushes),
# --attach 'perf record -g -p {pid} -o /tmp/{workload}.data', --keep,
# --baseline metrics-off (the second server is this Sentinel with --metrics=false
# instead of Distribution: the cost of metrics, e.g. with --only get),
# --baseline webhooks-off (the first server delivers every event to a webhook
# on a receiver in bench.py, the second has none: the cost of webhooks, e.g.
# with --only small,get), ...
#
# Needs python3, curl, wrk, a C compiler (for hload.c, the HEAD load
# generator), docker-registry, and openssl (the signed-get workload's key):
#   apt-get install wrk curl docker-registry gcc openssl
# Takes about 4-5 minutes with the defaults (2 cores); disk: about 5 GiB in $TMPDIR.
# Ctrl-C or SIGTERM stops the run and both registries.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sentinel="$root/target/release/sentinel-registry"
distribution="/usr/bin/docker-registry"
agent="$root/target/release/agent"
sign_manifest="$root/target/release/examples/sign_manifest"
build=0
pass=()
command_line="conformance/bench/run.sh${*:+ $*}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --build) build=1 ;;
        --sentinel) sentinel="$2"; shift ;;
        --distribution) distribution="$2"; shift ;;
        --agent) agent="$2"; shift ;;
        --sign-manifest) sign_manifest="$2"; shift ;;
        --output) pass+=(--output "$(realpath -m "$2")"); shift ;;
        --quick)
            pass+=(--blob-mib 32 --reps 1 --pull-reps 1 --duration 2 --latency-duration 1
                   --tags 100 --repos 100 --small-pushes 20) ;;
        -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) pass+=("$1") ;;
    esac
    shift
done

for tool in python3 curl wrk cc; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (see the header of this script)" >&2; exit 2; }
done
if [[ $build -eq 1 ]]; then
    (cd "$root" && cargo build --release -p sentinel-registry -p sentinel-agent-cli \
        && cargo build --release -p sentinel-registry --example sign_manifest)
fi
[[ -x "$sentinel" ]] || { echo "run.sh: no sentinel binary at $sentinel (try --build)" >&2; exit 2; }
[[ -x "$distribution" ]] || { echo "run.sh: no docker-registry at $distribution" >&2; exit 2; }

tools="$(mktemp -d "${TMPDIR:-/tmp}/sentinel-bench-tools.XXXXXX")"
trap 'rm -rf "$tools"' EXIT
cc -O2 -pthread -o "$tools/hload" "$here/hload.c"

python3 "$here/bench.py" \
    --sentinel "$(realpath "$sentinel")" \
    --distribution "$(realpath "$distribution")" \
    --hload "$tools/hload" \
    --agent "$(realpath -m "$agent")" \
    --sign-manifest "$(realpath -m "$sign_manifest")" \
    --command-line "$command_line" \
    "${pass[@]}" &
bench=$!
# bench.py stops both registries when it gets SIGTERM; pass Ctrl-C and
# SIGTERM on to it, and wait until it has done so.
trap 'kill -TERM "$bench" 2>/dev/null || true' INT TERM
status=0
wait "$bench" || status=$?
while kill -0 "$bench" 2>/dev/null; do
    wait "$bench" || status=$?
done
exit "$status"
