#!/usr/bin/env python3
"""Checks deploy/grafana/sentinel.json.

  dashboard_metrics.py DASHBOARD.json             the dashboard's structure
  dashboard_metrics.py DASHBOARD.json METRICS.txt  also: every metric a query
                                                   names is in METRICS.txt (a
                                                   GET /metrics of the registry)

Structure: valid JSON, unique panel ids, panels inside the 24-column grid,
every target a PromQL expression on the Prometheus data source variable, and
every metric it names a Sentinel one (sentinel_*) or Prometheus' own `up`.
A metric counts as present when /metrics has a sample, a # TYPE or a # HELP
line for it (histogram queries name NAME_bucket, _sum or _count of NAME).
Metrics that appear only once their event happened can be listed in
SENTINEL_METRICS_MAY_BE_ABSENT (comma-separated): they are reported, not
failed.
"""
import json
import os
import re
import sys

NAME = re.compile(r"\b(sentinel_[a-z0-9_]+|up)\b(?=\s*[{\[)]|\s*$)")


def query_metrics(dashboard):
    problems, names, ids = [], set(), set()
    for panel in dashboard.get("panels", []):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            problems.append(f"panel {title!r}: duplicate id {panel.get('id')}")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"panel {title!r}: wider than the 24-column grid")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {title!r}: not on the ${{datasource}} variable")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"panel {title!r}: no query")
        for target in targets:
            expr = target.get("expr", "")
            found = set(NAME.findall(expr))
            if not found:
                problems.append(f"panel {title!r}: query {expr!r} names no metric")
            names |= found
    return names, problems


def exposed(metrics_text):
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def main():
    dashboard = json.load(open(sys.argv[1]))
    names, problems = query_metrics(dashboard)
    if not dashboard.get("panels"):
        problems.append("no panels")
    absent = []
    if len(sys.argv) > 2:
        have = exposed(open(sys.argv[2]).read())
        may_be_absent = set(filter(None, os.environ.get("SENTINEL_METRICS_MAY_BE_ABSENT", "").split(",")))
        for name in sorted(names - {"up"}):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in have or base in have:
                continue
            if name in may_be_absent:
                absent.append(name)
            else:
                problems.append(f"metric {name} is not in /metrics")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    checked = "in /metrics" if len(sys.argv) > 2 else "structure only"
    note = f" ({len(absent)} seen only after their event: {', '.join(absent)})" if absent else ""
    print(f"dashboard: {len(dashboard['panels'])} panels, {len(names)} metrics queried, {checked}{note}")


if __name__ == "__main__":
    main()
