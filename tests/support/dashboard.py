#!/usr/bin/env python3
"""The PromQL of deploy/prometheus/grafana-dashboard.json, with Grafana's variables filled in.

  dashboard.py queries [--rate-interval 1m]   print every panel query as a JSON list
  dashboard.py rules [--rate-interval 1m]     print them as a Prometheus rules file, so that
                                              `promtool check rules` parses every query

tests/e2e/prometheus.rs runs the queries against a real Prometheus scraping a real hookwall;
.ci/deploy-checks has promtool parse them.
"""

import argparse
import json
import os
import sys

import yaml

DASHBOARD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "deploy", "prometheus", "grafana-dashboard.json",
)


def queries(rate_interval):
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    found = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", rate_interval)
            for name in variables:
                expr = expr.replace("$" + name, ".*")
            if "$" in expr:
                raise SystemExit(f"panel {panel['title']!r}: unknown variable in {expr}")
            found.append({"panel": panel["title"], "expr": expr})
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", choices=["queries", "rules"])
    parser.add_argument("--rate-interval", default="1m")
    args = parser.parse_args()
    found = queries(args.rate_interval)
    if args.format == "queries":
        json.dump(found, sys.stdout, indent=1)
        print()
    else:
        rules = [{"record": f"dashboard:panel_{i}", "expr": q["expr"]} for i, q in enumerate(found)]
        yaml.safe_dump({"groups": [{"name": "grafana-dashboard", "rules": rules}]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
