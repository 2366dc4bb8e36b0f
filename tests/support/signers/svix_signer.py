#!/usr/bin/env python3
"""Signs and verifies Svix deliveries with Svix's own library (PyPI `svix`):
`svix.webhooks.Webhook.sign` and `.verify`. Protocol: see protocol.py.

Svix sends the Standard Webhooks scheme under `svix-id`, `svix-timestamp` and
`svix-signature`, which is what the sign op returns.
"""

import protocol
import standardwebhooks.webhooks as reference
from svix.webhooks import Webhook, WebhookVerificationError


def sign(op):
    at = protocol.utc(op["timestamp"])
    signatures = [Webhook(secret).sign(op["id"], at, op["body"]) for secret in op["secrets"]]
    return {
        "headers": [
            ["svix-id", op["id"]],
            ["svix-timestamp", str(op["timestamp"])],
            ["svix-signature", " ".join(signatures)],
        ]
    }


def verify(op):
    # svix delegates to standardwebhooks, which reads the clock with datetime.now().
    reference.datetime = protocol.frozen_datetime(op["now"])
    try:
        Webhook(op["secret"]).verify(op["body"], dict(op["headers"]))
    except WebhookVerificationError as error:
        return protocol.refused(error)
    return {"valid": True}


if __name__ == "__main__":
    protocol.serve({"sign": sign, "verify": verify})
