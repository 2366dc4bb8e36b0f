#!/usr/bin/env python3
"""Signs and verifies Slack requests with Slack's own library (PyPI `slack_sdk`):
`SignatureVerifier.generate_signature` and `SignatureVerifier.is_valid_request`.
Protocol: see protocol.py. Slack sends one signature, so a sign op takes one secret.
"""

import protocol
from slack_sdk.signature import Clock, SignatureVerifier


class FrozenClock(Clock):
    def __init__(self, now):
        self._now = float(now)

    def now(self):
        return self._now


def sign(op):
    (secret,) = op["secrets"]
    timestamp = str(op["timestamp"])
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=op["body"])
    return {
        "headers": [
            ["X-Slack-Request-Timestamp", timestamp],
            ["X-Slack-Signature", signature],
        ]
    }


def verify(op):
    verifier = SignatureVerifier(op["secret"], clock=FrozenClock(op["now"]))
    if verifier.is_valid_request(op["body"], dict(op["headers"])):
        return {"valid": True}
    return {"valid": False, "reason": "SignatureVerifier.is_valid_request returned False"}


if __name__ == "__main__":
    protocol.serve({"sign": sign, "verify": verify})
