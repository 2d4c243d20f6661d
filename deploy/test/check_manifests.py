#!/usr/bin/env python3
"""Cross-checks a set of Kubernetes objects (YAML files, `---` separated) the
way a cluster would link them, which a schema cannot:

- a Service's selector picks the pods of a StatefulSet, and its targetPort
  names a container port;
- every ConfigMap and Secret a pod mounts or reads is among the objects (or
  named in --external, for Secrets made out of band);
- the registry container's probes: /healthz for startup and liveness,
  /readyz for readiness, on the named port;
- a ServiceMonitor selects a Service, on a named port, path /metrics;
- the sentinel.toml in a ConfigMap is valid TOML;
- the pod runs as a non-root user with a grace period above the registry's
  30 s of in-flight requests.

  check_manifests.py [--external NAME,...] FILE...
"""
import sys
import tomllib

import yaml


def main():
    args = sys.argv[1:]
    external = set()
    if args and args[0] == "--external":
        external = set(filter(None, args[1].split(",")))
        args = args[2:]
    objects = []
    for path in args:
        with open(path) as f:
            objects += [o for o in yaml.safe_load_all(f) if o]
    problems = []
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    names = lambda kind: {o["metadata"]["name"] for o in by_kind.get(kind, [])}
    configmaps, secrets = names("ConfigMap"), names("Secret") | external
    sets = by_kind.get("StatefulSet", [])
    if len(sets) != 1:
        problems.append(f"{len(sets)} StatefulSets, expected 1")
    for sts in sets:
        name = sts["metadata"]["name"]
        spec = sts["spec"]
        pod = spec["template"]
        labels = pod["metadata"].get("labels", {})
        if spec.get("replicas", 1) != 1:
            problems.append(f"{name}: replicas {spec.get('replicas')} (the embedded index takes one)")
        if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
            problems.append(f"{name}: selector does not match the pod labels")
        if spec["serviceName"] not in names("Service"):
            problems.append(f"{name}: serviceName {spec['serviceName']} is not a Service here")
        pspec = pod["spec"]
        if pspec.get("terminationGracePeriodSeconds", 30) <= 30:
            problems.append(f"{name}: terminationGracePeriodSeconds must exceed the registry's 30 s")
        sc = pspec.get("securityContext", {})
        if not sc.get("runAsNonRoot") or sc.get("runAsUser") in (None, 0):
            problems.append(f"{name}: the pod must run as a non-root user")
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        volumes = {v["name"]: v for v in pspec.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problems.append(f"{name}: volume {v['name']} names ConfigMap {v['configMap']['name']}, not here")
            if "secret" in v and v["secret"]["secretName"] not in secrets:
                problems.append(f"{name}: volume {v['name']} names Secret {v['secret']['secretName']}, not here")
        containers = pspec.get("initContainers", []) + pspec["containers"]
        for c in containers:
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claims:
                    problems.append(f"{name}/{c['name']}: mounts {m['name']}, which is neither a volume nor a claim")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets:
                    problems.append(f"{name}/{c['name']}: env {e['name']} reads Secret {ref['name']}, not here")
        registry = [c for c in pspec["containers"] if c["name"] == "registry"]
        if not registry:
            problems.append(f"{name}: no container named registry")
            continue
        c = registry[0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("http") != 5000:
            problems.append(f"{name}: the registry's port http is not 5000")
        if "data" not in {m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/var/lib/sentinel"}:
            problems.append(f"{name}: /var/lib/sentinel is not the data volume")
        for probe, path in [("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") not in ports:
                problems.append(f"{name}: {probe} is not GET {path} on a named port ({get})")
        for svc in by_kind.get("Service", []):
            sel = svc["spec"].get("selector", {})
            if any(labels.get(k) != v for k, v in sel.items()):
                problems.append(f"Service {svc['metadata']['name']}: selector {sel} picks no registry pod")
            for p in svc["spec"]["ports"]:
                if isinstance(p.get("targetPort"), str) and p["targetPort"] not in ports:
                    problems.append(f"Service {svc['metadata']['name']}: targetPort {p['targetPort']} is no container port")
    for cm in by_kind.get("ConfigMap", []):
        for key, text in cm.get("data", {}).items():
            if key.endswith(".toml"):
                try:
                    tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    problems.append(f"ConfigMap {cm['metadata']['name']}: {key} is not TOML: {e}")
    services = by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        n = sm["metadata"]["name"]
        sel = sm["spec"].get("selector", {}).get("matchLabels", {})
        picked = [s for s in services if all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        if not sel or not picked:
            problems.append(f"ServiceMonitor {n}: selector {sel} picks no Service")
        for ep in sm["spec"].get("endpoints", []):
            if ep.get("path") != "/metrics":
                problems.append(f"ServiceMonitor {n}: path {ep.get('path')}, not /metrics")
            if not any(p.get("name") == ep.get("port") for s in picked for p in s["spec"]["ports"]):
                problems.append(f"ServiceMonitor {n}: port {ep.get('port')} is not a port of the Services it picks")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"cross-checked {kinds}")


if __name__ == "__main__":
    main()
