"""The small JSON protocol every signer program speaks, so the Rust tests drive them alike.

A signer reads one JSON object from standard input, {"ops": [op, ...]}, and writes
{"results": [result, ...]} to standard output, one result per op, in order. Batching many
ops into one run keeps the tests fast: importing a provider library is the slow part.

  {"op": "sign", "secrets": [...], "body": "<text>", "timestamp": <unix>, "id": "<msg id>"}
      -> {"headers": [[name, value], ...]}   the headers the provider would send
  {"op": "verify", "secret": "...", "body": "<text>", "headers": [[name, value], ...],
   "now": <unix>, "tolerance": <seconds>}
      -> {"valid": true} or {"valid": false, "reason": "<the library's own words>"}

Bodies are text: every library here signs a str and encodes it as UTF-8 itself, so the
tests send exactly those UTF-8 bytes. "now" fixes the library's clock for the verify.

Anything else (an unknown op, a library that raises on signing) ends the program with a
traceback on standard error and a non-zero exit, which fails the calling test loudly.
"""

import json
import sys
from datetime import datetime, timezone


def serve(handlers):
    request = json.load(sys.stdin)
    results = [handlers[op["op"]](op) for op in request["ops"]]
    json.dump({"results": results}, sys.stdout)
    sys.stdout.write("\n")


def header(headers, name):
    """The value of `name` (any case) in a [[name, value], ...] list, or None."""
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


def utc(timestamp):
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def frozen_datetime(now):
    """A datetime class whose now() is the Unix time `now`, for libraries that read the
    clock through `datetime.now()`."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(now, tz=tz or timezone.utc)

    return Frozen


def refused(error):
    return {"valid": False, "reason": f"{type(error).__name__}: {error}"}
