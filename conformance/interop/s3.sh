#!/usr/bin/env bash
# Runs Sentinel's whole conformance suite with blobs in S3: a real
# S3-compatible server (moto, from PyPI `moto[server]`) on a free loopback
# port, one bucket, and a fresh prefix per test registry.
#
# Usage: conformance/interop/s3.sh
# Needs: python3 with moto[server], curl. Binds 127.0.0.1 only; stops what it starts.
set -euo pipefail

work=$(mktemp -d)
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$endpoint" && break
  sleep 0.1
done
curl -sf -X PUT "$endpoint/sentinel-ci" >/dev/null || {
  echo "s3: could not create the bucket on moto at $endpoint" >&2
  tail -n 20 "$work/moto.log" >&2
  exit 1
}

export AWS_ACCESS_KEY_ID=sentinel AWS_SECRET_ACCESS_KEY=sentinel AWS_REGION=us-east-1
export AWS_ENDPOINT="$endpoint" AWS_ALLOW_HTTP=true
export SENTINEL_TEST_STORAGE=s3://sentinel-ci/conformance
cargo test -p sentinel-conformance --locked
