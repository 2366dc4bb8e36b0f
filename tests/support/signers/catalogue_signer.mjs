#!/usr/bin/env node
// The official libraries of catalogue presets that only verify (npm, pinned by
// ../package-lock.json): discord-interactions `verifyKey` (Discord), @sendgrid/eventwebhook
// `EventWebhook.verifySignature` (SendGrid), @paddle/paddle-node-sdk
// `Webhooks.isSignatureValid` (Paddle). Deliveries are signed here with Node's own crypto,
// as the providers document it, so neither side shares code with hookwall.
// Protocol: protocol.py, plus "provider" on every op and a "keypair" op:
//   {"op": "keypair", "provider": "discord"|"sendgrid"} -> {"private": PEM, "public": the
//     provider's form (Discord: hex; SendGrid: base64 DER), "public_pem": PEM}
//   {"op": "sign", "provider", "secrets": [secret or private PEM], "body", "timestamp"}
//   {"op": "verify", "provider", "secret" (public key or secret), "body", "headers", "now"}

import crypto from "node:crypto";
import { verifyKey } from "discord-interactions";
import sendgrid from "@sendgrid/eventwebhook";
import { Paddle } from "@paddle/paddle-node-sdk";

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
  const type = provider === "discord" ? "ed25519" : "ec";
  const options = provider === "discord" ? {} : { namedCurve: "prime256v1" };
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, options);
  const der = publicKey.export({ type: "spki", format: "der" });
  return {
    private: privateKey.export({ type: "pkcs8", format: "pem" }),
    // Discord shows the raw 32-byte key in hex: the last 32 bytes of its SPKI.
    public: provider === "discord" ? der.subarray(der.length - 32).toString("hex") : der.toString("base64"),
    public_pem: publicKey.export({ type: "spki", format: "pem" }),
  };
}

function sign(op) {
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
    default:
      throw new Error(`unknown provider ${op.provider}`);
  }
}

async function verify(op) {
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
    results.push(sign(op));
  } else if (op.op === "verify") {
    results.push(await verify(op));
  } else {
    throw new Error(`unknown op ${op.op}`);
  }
}
process.stdout.write(JSON.stringify({ results }) + "\n");
