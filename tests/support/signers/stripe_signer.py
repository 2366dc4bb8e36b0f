#!/usr/bin/env python3
"""Signs and verifies Stripe deliveries with Stripe's own library (PyPI `stripe`):
`WebhookSignature.generate_signature_header` (the library's helper "for signing payloads in
unit tests") and `Webhook.construct_event`, which is what Stripe tells receivers to call.
Protocol: see protocol.py.

Several secrets give one `v1=` entry each after a single `t=`, as Stripe sends while an
endpoint's secret is being rolled.
"""

import types

import protocol
import stripe
import stripe._webhook as stripe_webhook


def sign(op):
    timestamp = op["timestamp"]
    signatures = []
    for secret in op["secrets"]:
        generated = stripe.WebhookSignature.generate_signature_header(
            op["body"], secret, timestamp=timestamp
        )
        prefix = f"t={timestamp},"
        if not generated.startswith(prefix):
            raise RuntimeError(f"unexpected header from stripe: {generated!r}")
        signatures.append(generated[len(prefix) :])
    return {"headers": [["Stripe-Signature", f"t={timestamp}," + ",".join(signatures)]]}


def verify(op):
    # The library reads the clock with time.time().
    stripe_webhook.time = types.SimpleNamespace(time=lambda: float(op["now"]))
    signature = protocol.header(op["headers"], "stripe-signature")
    try:
        stripe.Webhook.construct_event(
            op["body"], signature, op["secret"], tolerance=op.get("tolerance", 300)
        )
    except stripe.SignatureVerificationError as error:
        return protocol.refused(error)
    return {"valid": True}


if __name__ == "__main__":
    protocol.serve({"sign": sign, "verify": verify})
