#!/usr/bin/env bash
# The web UI in a real browser: headless Debian chromium, driven through
# chromium-driver by Python selenium (ui_browser.py), against a real
# sentinel-registry with authentication on, filled by the real `agent` CLI.
#
# Fixture (this script): the registry with --auth, the admin and a publisher
# alice; an ed25519 key trusted by a server signature policy on team/*; as
# admin, public packages under team/:
#   web-searcher 1.0.0 (then deprecated) and 1.1.0 (signed), with a README;
#   summariser 2.0.0 (signed by a key no policy lists; pulled once: a
#   download) and code-reviewer 0.3.0;
#   the stack research-team 1.0.0, whose members are web-searcher and
#   summariser (so each has a dependent and the stack has dependencies);
#   hostile 6.6.6, whose README, description, author, capabilities and tags
#   hold script tags, javascript: links and event handler attributes
#   (labels may hold no whitespace, so the tags and capabilities carry the
#   whitespace-free forms: <img/src="x"/onerror=...>, see below);
# and, as alice, the private alice/secret-planner 0.1.0.
#
# Then ui_browser.py runs its steps (each named in its output; it goes on
# after a failure and ends with "N passed, N failed"), and the registry is
# restarted on the same data with --auth=false for the steps of an open
# registry, once more with --ui=false (the pages answer 404, the APIs do
# not change), and with authentication on over TLS (a self-signed
# certificate from openssl) for the Secure session cookie. Screenshots (1280x900) go to docs/images/ (SCREENSHOTS=DIR to
# change, SCREENSHOTS= to take none).
#
# Usage: conformance/interop/ui-browser.sh [sentinel-registry] [agent] [-- ui_browser.py options]
#   e.g. ... -- --steps home,xss-home   (ui_browser.py --help lists the steps)
# Needs (Debian, root): chromium chromium-driver python3 curl openssl; PyPI selenium.
# Binds 127.0.0.1 only; cleans up after itself (KEEP=1 keeps the work dir).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
registry_binary=target/debug/sentinel-registry
agent_binary=target/debug/agent
[ $# -gt 0 ] && [ "$1" != -- ] && { registry_binary=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { agent_binary=$1; shift; }
[ "${1:-}" = -- ] && shift
browser_options=("$@")
screenshots=${SCREENSHOTS-$root/docs/images}

start_work "ui-browser"
[ -n "${KEEP:-}" ] && trap 'remove_server_keep_work' EXIT
remove_server_keep_work() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  echo "kept $work" >&2
}

# --- what the test needs ------------------------------------------------------
for binary in "$registry_binary" "$agent_binary"; do
  [ -x "$binary" ] || fail "find $binary (build it: cargo build -p sentinel-registry -p sentinel-agent-cli)"
done
registry_binary=$(realpath "$registry_binary")
agent_binary=$(realpath "$agent_binary")
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || fail "find $tool (apt-get install chromium chromium-driver)"
done
for tool in curl openssl; do
  command -v "$tool" >/dev/null || fail "find $tool"
done
python3 -c 'import selenium' 2>/dev/null || fail "import selenium (pip install selenium)"

# --- the registry, its users and a signing key --------------------------------
admin_password=admin-secret-0
alice_password=alice-secret-1
export SENTINEL_LOG=${SENTINEL_LOG:-info}
SENTINEL_ADMIN_PASSWORD=$admin_password start_registry "$registry_binary" "$work" --auth ||
  fail "start the registry with --auth"
data=$work/data
manage() { timeout 60 "$registry_binary" "$@" --data-dir "$data"; }
printf '%s\n' "$alice_password" | manage user add alice --role publisher --password-stdin >"$work/out" 2>&1 ||
  { cat "$work/out" >&2; fail "user add alice"; }

# agent AS ARGS...: the agent CLI in an isolated home per user (nothing from
# this machine's configuration or store).
agent() {
  local as=$1
  shift
  env -i PATH="$PATH" HOME="$work/home-$as" AGENT_CONFIG_DIR="$work/home-$as/config" \
    AGENT_STORE="$work/home-$as/store" DOCKER_CONFIG="$work/home-$as/docker" \
    timeout 60 "$agent_binary" "$@"
}
# run STEP CMD...: runs CMD with its output in $work/out; fails at STEP with
# that output unless it succeeds.
run() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "$name"; }
}
mkdir -p "$work/home-admin" "$work/home-alice"
printf '%s\n' "$admin_password" | run "agent login as admin" agent admin login "$addr" -u admin --password-stdin
printf '%s\n' "$alice_password" | run "agent login as alice" agent alice login "$addr" -u alice --password-stdin

run "agent key generate" agent admin key generate --name ui
run "agent key export" agent admin key export ui -o "$work/ui.pub"
run "agent key generate (a key no policy lists)" agent admin key generate --name other
agent admin key list --format json >"$work/keys.json" 2>"$work/out" || fail "agent key list"
run "policy set team/* trusting the key" manage policy set 'team/*' --key "$work/ui.pub"

# --- the packages ---------------------------------------------------------------
# package DIR FILE: writes FILE (agent.yaml or stack.yaml) from stdin into a
# fresh package directory DIR under $work/packages.
package() {
  mkdir -p "$work/packages/$1"
  cat >"$work/packages/$1/$2"
}
readme() { cat >"$work/packages/$1/README.md"; }

package web-searcher-1.0.0 agent.yaml <<'YAML'
name: web-searcher
version: 1.0.0
description: Searches the web and summarises what it finds (sentinelui fixture).
author: UI Test <ui@example.com>
license: Apache-2.0
source: https://example.com/team/web-searcher
capabilities: [web-search, summarise]
tags: [research, sentinelui]
model:
  provider: ollama
  name: llama3.1:8b
ports:
  - name: http
    port: 8080
    protocol: http
health_check:
  http: /healthz
entrypoint: [python3, -m, web_searcher]
YAML
readme web-searcher-1.0.0 <<'MD'
# Web searcher

Searches the web, reads the pages and **summarises** them.

- finds sources
- cites them

```sh
agent pull team/web-searcher
agent run team/web-searcher --env SEARCH_ENDPOINT=https://search.example.com/v1/query --env RESULTS_PER_PAGE=50 --env TIMEOUT_SECONDS=30 --detach
```

| setting | default | what it does |
|---|---|---|
| SEARCH_ENDPOINT_FOR_THE_WEB_SEARCH_BACKEND_OF_THIS_AGENT | https://search.example.com/v1/query | the search backend the agent queries for every question it is asked |

![How a question flows: search, read, summarise](docs/flow.png)
MD
# The README's image, from the package: three boxes, 320x80.
mkdir -p "$work/packages/web-searcher-1.0.0/docs"
python3 - "$work/packages/web-searcher-1.0.0/docs/flow.png" <<'PY'
import struct, sys, zlib
width, height = 320, 80
colours = [(0x2b, 0x6c, 0xb0), (0x2f, 0x85, 0x5a), (0xb7, 0x79, 0x1f)]
rows = bytearray()
for y in range(height):
    rows.append(0)
    for x in range(width):
        box, inside = divmod(x, width // 3)
        edge = y < 8 or y >= height - 8 or inside < 8 or inside >= width // 3 - 8
        rows.extend((255, 255, 255) if edge else colours[min(box, 2)])
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
cp -r "$work/packages/web-searcher-1.0.0" "$work/packages/web-searcher-1.1.0"
sed -i 's/^version: 1.0.0/version: 1.1.0/' "$work/packages/web-searcher-1.1.0/agent.yaml"

package summariser agent.yaml <<'YAML'
name: summariser
version: 2.0.0
description: Summarises long documents into a page (sentinelui fixture).
author: UI Test <ui@example.com>
license: MIT
capabilities: [summarise]
tags: [text, sentinelui]
YAML
readme summariser <<'MD'
# Summariser

Turns a long document into one page.
MD

package code-reviewer agent.yaml <<'YAML'
name: code-reviewer
version: 0.3.0
description: Reviews pull requests and suggests changes (sentinelui fixture).
capabilities: [code-review]
tags: [code, sentinelui]
YAML

package research-team stack.yaml <<'YAML'
name: research-team
version: 1.0.0
description: A web searcher and a summariser working together (sentinelui fixture).
tags: [research, sentinelui]
agents:
  - name: searcher
    ref: team/web-searcher:^1.0
  - name: writer
    ref: team/summariser:2.0.0
    depends_on: [searcher]
YAML
readme research-team <<'MD'
# Research team

The web searcher finds, the summariser writes.
MD

# The hostile strings, one per line (the same list is in ui_browser.py).
# Description, author and README take them as they are; tags and
# capabilities are labels (no whitespace, docs/package-format.md), so the
# three with a space are refused there and their whitespace-free forms
# (`/` separates attributes in HTML just as a space does) are used instead.
package hostile agent.yaml <<'YAML'
name: hostile
version: 6.6.6
description: 'Hostile fixture: <script>window.__xss=1</script> [click](javascript:window.__xss=2) <a href="javascript:window.__xss=3">link</a> <img src=x onerror="window.__xss=4"> <svg onload="window.__xss=5"> "><script>window.__xss=6</script>'
author: '<img src=x onerror="window.__xss=4"> "><script>window.__xss=6</script>'
license: MIT
source: https://example.com/hostile
capabilities: ['<script>window.__xss=1</script>', '"><script>window.__xss=6</script>', 'javascript:window.__xss=2']
tags:
  - '<script>window.__xss=1</script>'
  - '[click](javascript:window.__xss=2)'
  - '<a/href="javascript:window.__xss=3">'
  - '<img/src="x"/onerror="window.__xss=4">'
  - '<svg/onload="window.__xss=5">'
  - '"><script>window.__xss=6</script>'
YAML
readme hostile <<'MD'
# Hostile README

<script>window.__xss=1</script>

[click](javascript:window.__xss=2)

<a href="javascript:window.__xss=3">a raw link</a>

<img src=x onerror="window.__xss=4">

<svg onload="window.__xss=5"></svg>

"><script>window.__xss=6</script>

<iframe src="javascript:window.__xss=7"></iframe>

<div onmouseover="window.__xss=8">hover</div>

![a vector](evil.svg)
MD
# An image that is a script, served only as an image.
cat >"$work/packages/hostile/evil.svg" <<'SVG'
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="window.__xss=9"><script>window.__xss=10</script><rect width="40" height="40" fill="#c00"/></svg>
SVG

package secret-planner agent.yaml <<'YAML'
name: secret-planner
version: 0.1.0
description: Alice's private planner (sentinelui fixture).
capabilities: [planning]
tags: [sentinelui]
YAML

# The tags the packer refuses, said once so a change in the label rules shows.
for refused in '<a href="javascript:window.__xss=3">' '<img src=x onerror="window.__xss=4">' '<svg onload="window.__xss=5">'; do
  mkdir -p "$work/packages/refused"
  printf 'name: refused\nversion: 0.0.1\ntags: [%s]\n' "'$refused'" >"$work/packages/refused/agent.yaml"
  if (cd "$work/packages" && agent admin pack refused -o "$work/refused.sntl") >/dev/null 2>&1; then
    echo "note: the packer accepts the tag $refused"
  fi
  rm -rf "$work/packages/refused"
done

push() { # AS KIND REFERENCE DIR [ARGS...]
  local as=$1 kind=$2 reference=$3 dir=$4
  shift 4
  if [ "$kind" = stack ]; then
    run "push $reference" agent "$as" stack push "$addr/$reference" "$work/packages/$dir" --quiet "$@"
  else
    run "push $reference" agent "$as" push "$addr/$reference" "$work/packages/$dir" --quiet "$@"
  fi
}
push admin agent team/web-searcher:1.0.0 web-searcher-1.0.0 --public
push admin agent team/web-searcher:1.1.0 web-searcher-1.1.0 --public --sign --key ui
push admin agent team/summariser:2.0.0 summariser --public
push admin agent team/code-reviewer:0.3.0 code-reviewer --public
push admin stack team/research-team:1.0.0 research-team --public
push admin agent team/hostile:6.6.6 hostile --public
push alice agent alice/secret-planner:0.1.0 secret-planner
curl -sf -u "admin:$admin_password" -X POST "http://$addr/v1/packages/team/web-searcher/1.0.0/deprecate" \
  -d '{"message":"use 1.1.0"}' >"$work/out" 2>&1 || fail "deprecate team/web-searcher 1.0.0"
run "sign team/summariser with the untrusted key" agent admin sign "$addr/team/summariser:2.0.0" --key other
# Downloads: summariser twice, web-searcher once; they are counted in memory
# and written every 5 s (docs/catalogue.md), so wait until the API has them.
# Each pull from a fresh anonymous home: a store that already holds the
# package (the pusher's) downloads nothing.
run "pull team/summariser (a download)" agent pull-1 pull "$addr/team/summariser:2.0.0" -d "$work/pulled-1" --quiet
run "pull team/summariser again" agent pull-2 pull "$addr/team/summariser:2.0.0" -d "$work/pulled-2" --quiet
run "pull team/web-searcher" agent pull-3 pull "$addr/team/web-searcher:1.1.0" -d "$work/pulled-3" --quiet
for _ in $(seq 1 100); do
  downloads=$(curl -s "http://$addr/v1/packages/search?q=summariser" |
    python3 -c 'import json,sys; print(max([p.get("downloads", 0) for p in json.load(sys.stdin)["packages"] if p["name"] == "team/summariser"] or [0]))')
  [ "$downloads" -ge 2 ] && break
  sleep 0.1
done
[ "$downloads" -ge 2 ] || fail "the registry counts the downloads (team/summariser: $downloads after 10 s)"
echo "ok  fixture: 6 public packages, a stack, a signed and a deprecated version, alice's private package"

# --- the browser ----------------------------------------------------------------
python3 - "$work" "$addr" "$admin_password" "$alice_password" <<'PY' || fail "write the fixture description"
import json, sys
work, addr, admin, alice = sys.argv[1:5]
keys = json.load(open(f"{work}/keys.json"))
key_id = next(k for k in keys if k.get("name") == "ui")["key_id"]
json.dump({
    "admin": {"user": "admin", "password": admin},
    "alice": {"user": "alice", "password": alice},
    "key_id": key_id,
    "private": "alice/secret-planner",
    "signed": {"package": "team/web-searcher", "version": "1.1.0"},
    "deprecated": {"package": "team/web-searcher", "version": "1.0.0"},
    "stack": "team/research-team",
    "member": "team/web-searcher",
    "untrusted": "team/summariser",
    "hostile": "team/hostile",
    "word": "sentinelui",
}, open(f"{work}/fixture.json", "w"), indent=2)
PY

status=0
SE_OFFLINE=true SE_AVOID_STATS=true timeout 300 python3 "$here/ui_browser.py" "http://$addr" "$work/fixture.json" \
  --work "$work/browser" --screenshots "$screenshots" --phase auth "${browser_options[@]}" || status=$?

# --- the same data, authentication off --------------------------------------------
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
server_pid=
mv "$work/server.log" "$work/server-auth.log"
start_registry "$registry_binary" "$work" --auth=false || fail "start the registry with --auth=false"
SE_OFFLINE=true SE_AVOID_STATS=true timeout 120 python3 "$here/ui_browser.py" "http://$addr" "$work/fixture.json" \
  --work "$work/browser" --screenshots "" --phase open "${browser_options[@]}" || status=$?

# --- the same data, the UI turned off ----------------------------------------------
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
server_pid=
mv "$work/server.log" "$work/server-open.log"
start_registry "$registry_binary" "$work" --auth=false --ui=false || fail "start the registry with --ui=false"
home=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/")
package=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/packages/team/web-searcher")
api=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v1/packages/search?q=web")
if [ "$home" = 404 ] && [ "$package" = 404 ] && [ "$api" = 200 ]; then
  echo "ok  ui-off: with --ui=false / and the package page answer 404, the package API 200"
else
  echo "FAILED ui-off: with --ui=false / answered $home, /packages/team/web-searcher $package (both must be 404), /v1/packages/search $api"
  status=1
fi

# --- the same data over TLS: the session cookie is Secure -------------------------
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
server_pid=
mv "$work/server.log" "$work/server-ui-off.log"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$work/out" 2>&1 ||
  { cat "$work/out" >&2; fail "make a TLS certificate (openssl)"; }
"$registry_binary" serve --listen 127.0.0.1:0 --data-dir "$data" \
  --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" >"$work/server.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(grep -o 'listening on https://[0-9.:]*' "$work/server.log" | head -n1 | sed 's|listening on https://||') || true
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || fail "start the registry with TLS"
SE_OFFLINE=true SE_AVOID_STATS=true timeout 120 python3 "$here/ui_browser.py" "https://$addr" "$work/fixture.json" \
  --work "$work/browser" --screenshots "" --phase tls "${browser_options[@]}" || status=$?

if [ "$status" != 0 ]; then
  echo "--- registry log (last lines, authentication on):" >&2
  tail -n 15 "$work/server-auth.log" >&2
  fail "the browser steps above"
fi
echo "ui-browser: OK"
