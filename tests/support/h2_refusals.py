#!/usr/bin/env python3
"""Sends each request of a plan with httpx over HTTP/2 and prints what the client saw.

Used by tests/e2e/slow_and_h2.rs (issue 9, item 7: every refusal over HTTP/2 must reach the
client intact, whatever the size of the body it refused). Usage:

    h2_refusals.py ORIGIN CA_FILE SERVER_NAME PLAN_JSON

PLAN_JSON is a list of {"name", "method", "path", "headers", "size"}; each request carries a
body of `size` bytes. One JSON line per request: {"name", "size", "status", "http_version",
"body"} or, when the client failed, {"name", "size", "error"}. All requests share one
client (one connection unless a failure closes it), as a sender's client would.
"""

import json
import ssl
import sys

import httpx


def main():
    origin, ca_file, server_name, plan_file = sys.argv[1:5]
    with open(plan_file, encoding="utf-8") as plan_json:
        plan = json.load(plan_json)
    context = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(http2=True, verify=context, timeout=10.0) as client:
        for item in plan:
            result = {"name": item["name"], "size": item["size"]}
            try:
                response = client.request(
                    item["method"],
                    origin + item["path"],
                    headers=item["headers"],
                    content=b"x" * item["size"],
                    extensions={"sni_hostname": server_name},
                )
                result.update(
                    status=response.status_code,
                    http_version=response.http_version,
                    body=response.text,
                )
            except httpx.HTTPError as err:
                result["error"] = f"{type(err).__name__}: {err}"
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
