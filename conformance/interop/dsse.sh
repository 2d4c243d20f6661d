#!/usr/bin/env bash
# Interop: Sentinel's signature envelopes (crates/sentinel-signature) against
# an independent DSSE implementation, Python's securesystemslib over
# pyca/cryptography. securesystemslib verifies an envelope Sentinel made and
# reads Sentinel's key files (plain and encrypted); Sentinel verifies the
# envelopes securesystemslib made, with its own key and with Sentinel's. The
# Rust side is crates/sentinel-signature/tests/dsse_interop.rs, the Python
# side dsse_interop.py.
#
# Usage: conformance/interop/dsse.sh
# Needs: cargo, and python3 with `pip install 'securesystemslib[crypto]'`
# (installs nothing itself). No network, no server.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "interop dsse: FAILED at step '$1'" >&2
  exit 1
}

command -v python3 >/dev/null || fail "find python3"
python3 -c 'import securesystemslib.dsse, securesystemslib.signer, cryptography' 2>/dev/null ||
  fail "import securesystemslib (pip install 'securesystemslib[crypto]')"

# With SENTINEL_REQUIRE_INTEROP=1 the test fails rather than skips if Python
# is missing after all.
SENTINEL_REQUIRE_INTEROP=1 cargo test --locked -p sentinel-signature --test dsse_interop \
  -- --nocapture || fail "securesystemslib and Sentinel verify each other"
echo "interop dsse: ok"
