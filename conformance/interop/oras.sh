#!/usr/bin/env bash
# Interop: oras-py (PyPI `oras`, 0.2.x) pushes an OCI artifact with custom
# media types, artifactType and annotations to a real sentinel-registry,
# attaches referrers through `subject`, lists them (with the artifactType
# filter), pulls everything back verifying every digest, and exercises
# get_tags, DELETE by tag and delete_tag. The steps are in oras_interop.py.
#
# Usage: conformance/interop/oras.sh [path/to/sentinel-registry]
# Needs: python3 with `pip install oras` (brings requests and jsonschema).
# Binds 127.0.0.1 only; cleans up after itself.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-target/debug/sentinel-registry}
here=$(cd "$(dirname "$0")" && pwd)
start_work "interop oras-py"

python3 -c 'import oras.client' 2>/dev/null || fail "import oras-py (pip install oras)"

# Start the registry on a free port and read the address it prints.
start_registry "$binary" "$work" || fail "start the registry"

mkdir "$work/client"
# The script names the failing step and the registry's response itself; the
# timeout only guards against a hung connection.
timeout 60 python3 "$here/oras_interop.py" "$addr" "$work/client" || {
  status=$?
  [ "$status" = 124 ] && echo "interop oras-py: timed out after 60 s" >&2
  echo "--- last lines of the registry log:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
}
