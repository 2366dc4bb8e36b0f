#!/usr/bin/env node
// The official libraries of catalogue presets that only verify (npm, pinned by
// ../package-lock.json): discord-interactions `verifyKey` (Discord), @sendgrid/eventwebhook
// `EventWebhook.verifySignature` (SendGrid), @paddle/paddle-node-sdk
// `Webhooks.isSignatureValid` (Paddle), @linear/sdk `LinearWebhookClient.verify` (Linear),
// @mux/mux-node `webhooks.verifySignature` (Mux), @shopify/shopify-api `webhooks.validate`
// (Shopify), @zoom/rivet `AwsLambdaReceiver` (Zoom: its handler verifies x-zm-signature and
// answers endpoint.url_validation), chargebee `webhooks.requestValidator` (Chargebee: basic
// auth from CHARGEBEE_WEBHOOK_USERNAME/PASSWORD), @workos-inc/node `webhooks.constructEvent`
// (WorkOS), @sanity/webhook `isValidSignature` (Sanity), @elevenlabs/elevenlabs-js
// `webhooks.constructEvent` (ElevenLabs), @onfido/api `WebhookEventVerifier` (Onfido), pusher
// `webhook().isValid()` (Pusher), @easypost/api `Utils.validateWebhook` (EasyPost), resend
// `webhooks.verify` (Resend), @clerk/backend `verifyWebhook` (Clerk), replicate
// `validateWebhook` (Replicate), @liveblocks/node `WebhookHandler.verifyRequest` (Liveblocks),
// @polar-sh/sdk `webhooks.validateEvent` (Polar), telnyx `webhooks.unwrap` (Telnyx, Ed25519).
// Deliveries are signed by the library where it has a signing function (Notion, WorkOS,
// Sanity), else here with Node's own crypto, as the providers document it, so neither side
// shares code with hookwall.
// Protocol: protocol.py, plus "provider" on every op and a "keypair" op:
//   {"op": "keypair", "provider": "discord"|"sendgrid"|"telnyx"} -> {"private": PEM, "public":
//     the provider's form (Discord: hex; SendGrid: base64 DER; Telnyx: base64 of the raw
//     32 bytes), "public_pem": PEM}
//   {"op": "sign", "provider", "secrets": [secret or private PEM], "body", "timestamp"}
//   {"op": "verify", "provider", "secret" (public key or secret), "body", "headers", "now"}
//   {"op": "zoom_url_validation", "secret", "body"} -> the JSON answer @zoom/rivet gives
// Linear, Mux, Paddle, Resend, Clerk, Liveblocks, Polar and Telnyx's libraries read the real
// clock: sign with the real time.

import crypto from "node:crypto";
import { verifyKey } from "discord-interactions";
import sendgrid from "@sendgrid/eventwebhook";
import { Paddle } from "@paddle/paddle-node-sdk";
import { LinearWebhookClient } from "@linear/sdk/webhooks";
import Mux from "@mux/mux-node";
import "@shopify/shopify-api/adapters/node";
import { shopifyApi, ApiVersion, LogSeverity } from "@shopify/shopify-api";
import { AwsLambdaReceiver } from "@zoom/rivet/meetings";
import Chargebee from "chargebee";
import { signWebhookPayload, verifyWebhookSignature } from "@notionhq/client";
import { WorkOS } from "@workos-inc/node";
import { encodeSignatureHeader, isValidSignature } from "@sanity/webhook";
import { ElevenLabsClient } from "@elevenlabs/elevenlabs-js";
import { WebhookEventVerifier } from "@onfido/api";
import Pusher from "pusher";
import EasyPostClient from "@easypost/api";

// The Pusher app key X-Pusher-Key carries: the library only checks it equals its own.
const PUSHER_KEY = "278d425bdf160c739803";
import { Resend } from "resend";
import { verifyWebhook as clerkVerifyWebhook } from "@clerk/backend/webhooks";
import { validateWebhook as replicateValidateWebhook } from "replicate";
import { WebhookHandler as LiveblocksWebhookHandler } from "@liveblocks/node";
import { webhooks as polarWebhooks } from "@polar-sh/sdk/2026-10";
import Telnyx from "telnyx";

// @zoom/rivet logs every event it handles with console.debug, which would land in the JSON
// answer on standard output.
console.debug = () => {};

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function header(headers, name) {
  const found = headers.find(([key]) => key.toLowerCase() === name.toLowerCase());
  return found === undefined ? undefined : found[1];
}

function keypair(provider) {
  const ed25519 = provider === "discord" || provider === "telnyx";
  const type = ed25519 ? "ed25519" : "ec";
  const options = ed25519 ? {} : { namedCurve: "prime256v1" };
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, options);
  const der = publicKey.export({ type: "spki", format: "der" });
  // Discord shows the raw 32-byte key (the last 32 bytes of its SPKI) in hex, Telnyx in
  // base64; SendGrid the whole SPKI in base64.
  const raw = der.subarray(der.length - 32);
  const shown = { discord: raw.toString("hex"), telnyx: raw.toString("base64") };
  return {
    private: privateKey.export({ type: "pkcs8", format: "pem" }),
    public: shown[provider] ?? der.toString("base64"),
    public_pem: publicKey.export({ type: "spki", format: "pem" }),
  };
}

// The message id the Standard Webhooks senders put in <prefix>-id.
const MESSAGE_ID = "msg_2lXbYc8vQ3kWmN4pR7tUzA1sD5f";

// Standard Webhooks as its spec writes it: `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`
// under <prefix>-id, -timestamp, -signature. Most keys are the base64 after `whsec_`; Polar's
// (secrets generated before 2026-09-08) is the whole secret's UTF-8, as Polar's server keys it.
function standardWebhooks(prefix, key, timestamp, body) {
  const tag = crypto.createHmac("sha256", key).update(`${MESSAGE_ID}.${timestamp}.${body}`).digest("base64");
  return [
    [`${prefix}-id`, MESSAGE_ID],
    [`${prefix}-timestamp`, timestamp],
    [`${prefix}-signature`, `v1,${tag}`],
  ];
}

function whsecKey(secret) {
  return Buffer.from(secret.replace(/^whsec_/, ""), "base64");
}

async function sign(op) {
  if (op.secrets.length !== 1) {
    throw new Error("one key per delivery");
  }
  const [secret] = op.secrets;
  const timestamp = String(op.timestamp);
  const message = Buffer.from(timestamp + op.body, "utf8");
  switch (op.provider) {
    case "discord":
      return {
        headers: [
          ["X-Signature-Ed25519", crypto.sign(null, message, secret).toString("hex")],
          ["X-Signature-Timestamp", timestamp],
        ],
      };
    case "sendgrid":
      return {
        headers: [
          ["X-Twilio-Email-Event-Webhook-Signature", crypto.sign("sha256", message, secret).toString("base64")],
          ["X-Twilio-Email-Event-Webhook-Timestamp", timestamp],
        ],
      };
    case "paddle": {
      const h1 = crypto.createHmac("sha256", secret).update(`${timestamp}:${op.body}`).digest("hex");
      return { headers: [["Paddle-Signature", `ts=${timestamp};h1=${h1}`]] };
    }
    case "linear": {
      const tag = crypto.createHmac("sha256", secret).update(op.body).digest("hex");
      return { headers: [["Linear-Signature", tag]] };
    }
    case "mux": {
      const tag = crypto.createHmac("sha256", secret).update(`${timestamp}.${op.body}`).digest("hex");
      return { headers: [["Mux-Signature", `t=${timestamp},v1=${tag}`]] };
    }
    case "shopify":
      return {
        headers: [
          ["X-Shopify-Hmac-Sha256", crypto.createHmac("sha256", secret).update(op.body).digest("base64")],
          ["X-Shopify-Topic", "orders/create"],
          ["X-Shopify-Shop-Domain", "hookwall-test.myshopify.com"],
          ["X-Shopify-API-Version", "2025-01"],
          ["X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"],
        ],
      };
    case "zoom": {
      const tag = crypto.createHmac("sha256", secret).update(`v0:${timestamp}:${op.body}`).digest("hex");
      return { headers: [["x-zm-signature", `v0=${tag}`], ["x-zm-request-timestamp", timestamp]] };
    }
    case "chargebee":
      return { headers: [["Authorization", `Basic ${Buffer.from(secret).toString("base64")}`]] };
    case "notion":
      return {
        headers: [["X-Notion-Signature", await signWebhookPayload({ body: op.body, verificationToken: secret })]],
      };
    case "workos": {
      // WorkOS signs the timestamp in milliseconds.
      const millis = String(op.timestamp * 1000);
      const workos = new WorkOS("sk_test_unused");
      const tag = await workos.webhooks.computeSignature(millis, op.body, secret);
      return { headers: [["WorkOS-Signature", `t=${millis}, v1=${tag}`]] };
    }
    case "sanity":
      return {
        headers: [["sanity-webhook-signature", await encodeSignatureHeader(op.body, op.timestamp * 1000, secret)]],
      };
    case "elevenlabs": {
      const tag = crypto.createHmac("sha256", secret).update(`${timestamp}.${op.body}`).digest("hex");
      return { headers: [["ElevenLabs-Signature", `t=${timestamp},v0=${tag}`]] };
    }
    case "onfido":
      return { headers: [["X-SHA2-Signature", crypto.createHmac("sha256", secret).update(op.body).digest("hex")]] };
    case "pusher":
      return {
        headers: [
          ["X-Pusher-Key", PUSHER_KEY],
          ["X-Pusher-Signature", crypto.createHmac("sha256", secret).update(op.body).digest("hex")],
        ],
      };
    case "easypost": {
      // EasyPost keys the HMAC with the webhook_secret in Unicode NFKD.
      const key = Buffer.from(secret.normalize("NFKD"), "utf8");
      const tag = crypto.createHmac("sha256", key).update(op.body).digest("hex");
      return { headers: [["X-Hmac-Signature", `hmac-sha256-hex=${tag}`]] };
    }
    case "resend":
    case "clerk":
      return { headers: standardWebhooks("svix", whsecKey(secret), timestamp, op.body) };
    case "replicate":
    case "liveblocks":
      return { headers: standardWebhooks("webhook", whsecKey(secret), timestamp, op.body) };
    case "polar":
      return { headers: standardWebhooks("webhook", Buffer.from(secret, "utf8"), timestamp, op.body) };
    case "telnyx": {
      const signed = Buffer.from(`${timestamp}|${op.body}`, "utf8");
      return {
        headers: [
          ["telnyx-signature-ed25519", crypto.sign(null, signed, secret).toString("base64")],
          ["telnyx-timestamp", timestamp],
        ],
      };
    }
    default:
      throw new Error(`unknown provider ${op.provider}`);
  }
}

function lowerCased(headers) {
  return Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value]));
}

// Zoom's receiver for AWS Lambda is the library's public entry point that takes a body and
// headers without an HTTP server: 200 when verified, 400 with the reason when not.
async function zoomHandle(secret, body, headers) {
  return new AwsLambdaReceiver({ webhooksSecretToken: secret }).start()({ body, headers: lowerCased(headers) }, {});
}

async function verifyNewer(op) {
  switch (op.provider) {
    case "linear":
      // Throws on a bad signature, or a body whose webhookTimestamp is over a minute off.
      new LinearWebhookClient(op.secret).verify(Buffer.from(op.body, "utf8"), header(op.headers, "linear-signature"));
      return true;
    case "mux":
      // Throws on a bad signature or a timestamp over five minutes old.
      await new Mux({ tokenId: "unused", tokenSecret: "unused" }).webhooks.verifySignature(
        op.body,
        lowerCased(op.headers),
        op.secret,
      );
      return true;
    case "shopify": {
      const shopify = shopifyApi({
        apiKey: "unused",
        apiSecretKey: op.secret,
        scopes: [],
        hostName: "hooks.example.com",
        apiVersion: ApiVersion.January25,
        isEmbeddedApp: false,
        logger: { level: LogSeverity.Error, log: () => {} },
      });
      const result = await shopify.webhooks.validate({
        rawBody: op.body,
        rawRequest: { headers: lowerCased(op.headers), method: "POST", url: "/webhooks" },
        rawResponse: {},
      });
      if (!result.valid) {
        throw new Error(`shopify: ${result.reason}`);
      }
      return true;
    }
    case "zoom": {
      const answer = await zoomHandle(op.secret, op.body, op.headers);
      if (answer.statusCode !== 200) {
        throw new Error(`zoom: ${answer.statusCode} ${answer.body}`);
      }
      return true;
    }
    case "notion": {
      const valid = await verifyWebhookSignature({
        body: op.body,
        signature: header(op.headers, "x-notion-signature"),
        verificationToken: op.secret,
      });
      if (!valid) {
        throw new Error("notion library returned false");
      }
      return true;
    }
    case "resend":
      // Throws on a bad signature or a timestamp over five minutes off (standardwebhooks).
      new Resend("re_unused").webhooks.verify({
        payload: op.body,
        headers: {
          id: header(op.headers, "svix-id"),
          timestamp: header(op.headers, "svix-timestamp"),
          signature: header(op.headers, "svix-signature"),
        },
        webhookSecret: op.secret,
      });
      return true;
    case "clerk":
      // Clerk's helper takes the framework's Request and reads only the svix-* headers.
      await clerkVerifyWebhook(
        new Request(op.url ?? "https://hooks.example.com/clerk", {
          method: "POST",
          headers: op.headers,
          body: op.body,
        }),
        { signingSecret: op.secret },
      );
      return true;
    case "replicate":
      // Replicate's check reads no clock: it compares the signatures only.
      if (!(await replicateValidateWebhook({ body: op.body, headers: lowerCased(op.headers) }, op.secret))) {
        throw new Error("replicate library returned false");
      }
      return true;
    case "liveblocks":
      // Throws on a bad signature, a timestamp over five minutes off, or an unknown event type.
      new LiveblocksWebhookHandler(op.secret).verifyRequest({ headers: lowerCased(op.headers), rawBody: op.body });
      return true;
    case "polar":
      // Throws on a bad signature, a timestamp over five minutes off, or an unknown event type.
      await polarWebhooks.validateEvent(op.body, lowerCased(op.headers), op.secret);
      return true;
    case "telnyx":
      // Throws on a bad signature or a timestamp over five minutes off; the key is the
      // base64 public key from Mission Control.
      await new Telnyx({ apiKey: "unused" }).webhooks.unwrap(op.body, { headers: lowerCased(op.headers), key: op.secret });
      return true;
    case "chargebee": {
      const [user, ...password] = op.secret.split(":");
      process.env.CHARGEBEE_WEBHOOK_USERNAME = user;
      process.env.CHARGEBEE_WEBHOOK_PASSWORD = password.join(":");
      // The client's webhook handler configures Basic Auth from those two variables; its
      // validator is what handler.handle() runs before parsing an event.
      const chargebee = new Chargebee({ site: "hookwall-test", apiKey: "unused" });
      await chargebee.webhooks.requestValidator(lowerCased(op.headers));
      return true;
    }
    case "workos":
      // Throws on a bad signature, or a timestamp more than 3 minutes from the real clock.
      await new WorkOS("sk_test_unused").webhooks.constructEvent({
        payload: op.body,
        sigHeader: header(op.headers, "workos-signature"),
        secret: op.secret,
      });
      return true;
    case "sanity":
      if (!(await isValidSignature(op.body, header(op.headers, "sanity-webhook-signature"), op.secret))) {
        throw new Error("sanity library returned false");
      }
      return true;
    case "elevenlabs":
      // Throws on a bad signature, or a timestamp more than 30 minutes old.
      await new ElevenLabsClient({ apiKey: "unused" }).webhooks.constructEvent(
        op.body,
        header(op.headers, "elevenlabs-signature"),
        op.secret,
      );
      return true;
    case "onfido":
      new WebhookEventVerifier(op.secret).readPayload(op.body, header(op.headers, "x-sha2-signature"));
      return true;
    case "pusher": {
      const pusher = new Pusher({ appId: "1", key: PUSHER_KEY, secret: op.secret, cluster: "eu" });
      if (!pusher.webhook({ headers: lowerCased(op.headers), rawBody: op.body }).isValid()) {
        throw new Error("pusher library: isValid() is false");
      }
      return true;
    }
    case "easypost":
      new EasyPostClient("unused").Utils.validateWebhook(Buffer.from(op.body, "utf8"), lowerCased(op.headers), op.secret);
      return true;
    default:
      return undefined;
  }
}

async function verify(op) {
  try {
    const newer = await verifyNewer(op);
    if (newer !== undefined) {
      return { valid: true };
    }
  } catch (error) {
    return { valid: false, reason: String(error.message || error) };
  }
  let valid;
  switch (op.provider) {
    case "discord":
      valid = await verifyKey(
        op.body,
        header(op.headers, "x-signature-ed25519"),
        header(op.headers, "x-signature-timestamp"),
        op.secret,
      );
      break;
    case "sendgrid": {
      const webhook = new sendgrid.EventWebhook();
      valid = webhook.verifySignature(
        webhook.convertPublicKeyToECDSA(op.secret),
        op.body,
        header(op.headers, "x-twilio-email-event-webhook-signature"),
        header(op.headers, "x-twilio-email-event-webhook-timestamp"),
      );
      break;
    }
    case "paddle":
      // Paddle's validator reads the real clock (5 s window); tests sign with the real time.
      // The client sets up the runtime the validator hashes with; the API key is never used.
      valid = await new Paddle("pdl_test_unused").webhooks.isSignatureValid(
        op.body,
        op.secret,
        header(op.headers, "paddle-signature"),
      );
      break;
    default:
      throw new Error(`unknown provider ${op.provider}`);
  }
  return valid ? { valid: true } : { valid: false, reason: `${op.provider} library returned false` };
}

const request = JSON.parse(await readStdin());
const results = [];
for (const op of request.ops) {
  if (op.op === "keypair") {
    results.push(keypair(op.provider));
  } else if (op.op === "sign") {
    results.push(await sign(op));
  } else if (op.op === "verify") {
    results.push(await verify(op));
  } else if (op.op === "zoom_url_validation") {
    const headers = [["x-zm-signature", op.signature], ["x-zm-request-timestamp", op.timestamp]];
    const answer = await zoomHandle(op.secret, op.body, headers);
    results.push({ status: answer.statusCode, body: JSON.parse(answer.body) });
  } else {
    throw new Error(`unknown op ${op.op}`);
  }
}
process.stdout.write(JSON.stringify({ results }) + "\n");
