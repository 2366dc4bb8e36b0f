#!/usr/bin/env python3
"""The official PyPI libraries of catalogue presets (pinned by ../requirements.txt), behind
one program because importing them is the slow part:

  hubspot    hubspot-api-client  hubspot.utils.signature.Signature (v3: get_signature, is_valid)
  square     squareup            square.utils.webhooks_helper.verify_signature
  razorpay   razorpay            Client.utility.verify_webhook_signature
  gocardless gocardless-pro      gocardless_pro.webhooks.parse
  coinbase-commerce coinbase-commerce  coinbase_commerce.webhook.Webhook.construct_event
  line       line-bot-sdk        linebot.v3.webhook.SignatureValidator
  box        box-sdk-gen         compute_webhook_signature, WebhooksManager.validate_message
  twilio     twilio              twilio.request_validator.RequestValidator (compute, validate)
  mailgun    mailgun             mailgun.security.SecurityGuard.verify_webhook
  mollie     mollie-api-py       mollie.utils.webhooks.signature_validator.SignatureValidator
                                 (create_signature, validate_payload)
  openai     openai              OpenAI().webhooks.unwrap (verify_signature, then the parse)

Where the library has a signing function it signs; elsewhere the delivery is signed here
with Python's hmac as the provider documents it. Either way nothing is shared with hookwall.

Protocol: protocol.py, plus on every op "provider" and "url" (the URL the provider posts to):
  {"op": "sign", "provider", "url", "secrets": [one secret], "body", "timestamp"}
      -> {"headers": [[name, value], ...]}, and for Mailgun "body": the body to send
  {"op": "verify", "provider", "url", "secret", "body", "headers"} -> {"valid": ...}
Libraries that check the delivery's age read the real clock: sign with the real time.
"""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import protocol


def _hmac(secret, text, digest=hashlib.sha256):
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), digest)


def _one_secret(op):
    if len(op["secrets"]) != 1:
        raise ValueError("one secret per delivery")
    return op["secrets"][0]


def _lower(headers):
    return {name.lower(): value for name, value in headers}


# --- signing -------------------------------------------------------------------------


def sign_hubspot(op, secret):
    from hubspot.utils.signature import Signature

    millis = str(op["timestamp"] * 1000)
    signature = Signature.get_signature(
        secret, op["body"], "v3", http_uri=op["url"], http_method="POST", timestamp=millis
    )
    return [["X-HubSpot-Signature-v3", signature], ["X-HubSpot-Request-Timestamp", millis]]


def sign_box(op, secret):
    from box_sdk_gen.internal.utils import compute_webhook_signature

    stamp = datetime.fromtimestamp(op["timestamp"], tz=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S+00:00"
    )
    headers = {
        "box-delivery-id": "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f",
        "box-delivery-timestamp": stamp,
        "box-signature-version": "1",
        "box-signature-algorithm": "HmacSHA256",
    }
    headers["box-signature-primary"] = compute_webhook_signature(op["body"], headers, secret)
    return [[name, value] for name, value in headers.items()]


def sign_twilio(op, secret):
    from twilio.request_validator import RequestValidator

    params = dict(parse_qsl(op["body"], keep_blank_values=True))
    return [["X-Twilio-Signature", RequestValidator(secret).compute_signature(op["url"], params)]]


def sign_mailgun(op, secret):
    """Mailgun puts its proof in the body: {"signature": {timestamp, token, signature},
    "event-data": ...}; the op's body is the event data."""
    timestamp = str(op["timestamp"])
    token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    proof = {
        "timestamp": timestamp,
        "token": token,
        "signature": _hmac(secret, timestamp + token).hexdigest(),
    }
    body = json.dumps(
        {"signature": proof, "event-data": json.loads(op["body"])},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return {"headers": [], "body": body}


def sign_documented(op, secret):
    """The providers whose libraries only verify: signed as their documentation says."""
    body = op["body"]
    provider = op["provider"]
    if provider == "square":
        tag = base64.b64encode(_hmac(secret, op["url"] + body).digest()).decode()
        return [["X-Square-HmacSha256-Signature", tag]]
    if provider == "line":
        return [["X-Line-Signature", base64.b64encode(_hmac(secret, body).digest()).decode()]]
    header = {
        "razorpay": "X-Razorpay-Signature",
        "gocardless": "Webhook-Signature",
        "coinbase-commerce": "X-CC-Webhook-Signature",
    }[provider]
    return [[header, _hmac(secret, body).hexdigest()]]


def sign_mollie(op, secret):
    from mollie.utils.webhooks.signature_validator import SignatureValidator

    # The header carries "sha256=" before the hex (Mollie's SDK READMEs and its Spryker
    # integration guide); the SDK's validators accept it with or without.
    signature = SignatureValidator.create_signature(op["body"], secret)
    return [["X-Mollie-Signature", "sha256=" + signature]]


def sign_openai(op, secret):
    """Standard Webhooks, as OpenAI's guide signs: v1,<base64 HMAC-SHA256> of
    "<webhook-id>.<webhook-timestamp>.<body>", keyed with the base64 after "whsec_"."""
    message_id = "msg_2lXbYc8vQ3kWmN4pR7tUzA1sD5f"
    timestamp = str(op["timestamp"])
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{op['body']}".encode("utf-8")
    tag = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return [
        ["webhook-id", message_id],
        ["webhook-timestamp", timestamp],
        ["webhook-signature", f"v1,{tag}"],
    ]


SIGNERS = {
    "openai": sign_openai,
    "hubspot": sign_hubspot,
    "box": sign_box,
    "twilio": sign_twilio,
    "mollie": sign_mollie,
}


def sign(op):
    secret = _one_secret(op)
    if op["provider"] == "mailgun":
        return sign_mailgun(op, secret)
    return {"headers": SIGNERS.get(op["provider"], sign_documented)(op, secret)}


# --- verifying -----------------------------------------------------------------------


def verify_hubspot(op, headers):
    from hubspot.utils.signature import Signature

    return Signature.is_valid(
        signature=headers["x-hubspot-signature-v3"],
        client_secret=op["secret"],
        request_body=op["body"],
        http_uri=op["url"],
        http_method="POST",
        signature_version="v3",
        timestamp=headers["x-hubspot-request-timestamp"],
    )


def verify_square(op, headers):
    from square.utils.webhooks_helper import verify_signature

    return verify_signature(
        request_body=op["body"],
        signature_header=headers["x-square-hmacsha256-signature"],
        signature_key=op["secret"],
        notification_url=op["url"],
    )


def verify_razorpay(op, headers):
    import razorpay

    client = razorpay.Client(auth=("rzp_test_unused", "unused"))
    return client.utility.verify_webhook_signature(
        op["body"], headers["x-razorpay-signature"], op["secret"]
    )


def verify_gocardless(op, headers):
    from gocardless_pro import webhooks

    webhooks.parse(op["body"], op["secret"], headers["webhook-signature"])
    return True


def verify_coinbase(op, headers):
    from coinbase_commerce.webhook import Webhook

    Webhook.construct_event(op["body"], headers["x-cc-webhook-signature"], op["secret"])
    return True


def verify_line(op, headers):
    from linebot.v3.webhook import SignatureValidator

    return SignatureValidator(op["secret"]).validate(op["body"], headers["x-line-signature"])


def verify_box(op, headers):
    from box_sdk_gen.managers.webhooks import WebhooksManager

    return WebhooksManager.validate_message(op["body"], headers, op["secret"])


def verify_twilio(op, headers):
    from twilio.request_validator import RequestValidator

    params = dict(parse_qsl(op["body"], keep_blank_values=True))
    return RequestValidator(op["secret"]).validate(
        op["url"], params, headers["x-twilio-signature"]
    )


def verify_mailgun(op, headers):
    # Mailgun's proof is inside the JSON body: signature.{timestamp, token, signature}.
    from mailgun.security import SecurityGuard

    proof = json.loads(op["body"])["signature"]
    return SecurityGuard.verify_webhook(
        op["secret"], proof["token"], proof["timestamp"], proof["signature"]
    )


def verify_mollie(op, headers):
    from mollie.utils.webhooks.signature_validator import SignatureValidator

    # True for a valid signature, False when there is none (a classic webhook), raises
    # InvalidSignatureException for a wrong one.
    return SignatureValidator(op["secret"]).validate_payload(
        op["body"], headers.get("x-mollie-signature")
    )


def verify_openai(op, headers):
    from openai import OpenAI

    # Raises InvalidWebhookSignatureError on a bad signature or a timestamp over five
    # minutes off (it reads the real clock); the API key is never used.
    OpenAI(api_key="sk-unused").webhooks.unwrap(op["body"], headers, secret=op["secret"])
    return True


VERIFIERS = {
    "openai": verify_openai,
    "hubspot": verify_hubspot,
    "square": verify_square,
    "razorpay": verify_razorpay,
    "gocardless": verify_gocardless,
    "coinbase-commerce": verify_coinbase,
    "line": verify_line,
    "box": verify_box,
    "twilio": verify_twilio,
    "mailgun": verify_mailgun,
    "mollie": verify_mollie,
}


def verify(op):
    headers = _lower(op["headers"])
    try:
        valid = VERIFIERS[op["provider"]](op, headers)
    except Exception as error:  # each library raises its own error type on a forgery
        if isinstance(error, (KeyError, ImportError)):
            raise
        return protocol.refused(error)
    if valid is True:
        return {"valid": True}
    return {"valid": False, "reason": f"{op['provider']} library returned {valid!r}"}


if __name__ == "__main__":
    protocol.serve({"sign": sign, "verify": verify})
