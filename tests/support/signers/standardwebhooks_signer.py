#!/usr/bin/env python3
"""Signs and verifies Standard Webhooks deliveries with the reference library (PyPI
`standardwebhooks`): `Webhook.sign` and `Webhook.verify`. Protocol: see protocol.py.

Several secrets give one `v1,<base64>` entry each, space-separated, as a sender rotating
its secret does.
"""

import protocol
import standardwebhooks.webhooks as reference
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def sign(op):
    at = protocol.utc(op["timestamp"])
    signatures = [Webhook(secret).sign(op["id"], at, op["body"]) for secret in op["secrets"]]
    return {
        "headers": [
            ["webhook-id", op["id"]],
            ["webhook-timestamp", str(op["timestamp"])],
            ["webhook-signature", " ".join(signatures)],
        ]
    }


def verify(op):
    # The library reads the clock with datetime.now() and has a fixed five-minute window.
    reference.datetime = protocol.frozen_datetime(op["now"])
    try:
        Webhook(op["secret"]).verify(op["body"], dict(op["headers"]), json_parse=False)
    except WebhookVerificationError as error:
        return protocol.refused(error)
    return {"valid": True}


if __name__ == "__main__":
    protocol.serve({"sign": sign, "verify": verify})
