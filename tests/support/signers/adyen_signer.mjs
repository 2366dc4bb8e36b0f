#!/usr/bin/env node
// Adyen's official Node library (npm @adyen/api-library, pinned by ../package-lock.json):
// its HmacValidator signs and verifies both kinds of Adyen webhook.
// Protocol (protocol.py's framing, ops of its own):
//   {"op": "sign-notifications", "key": hex, "body": JSON text} -> {"body": the same JSON with
//     additionalData.hmacSignature = calculateHmac(item, key) in every NotificationRequestItem}
//   {"op": "verify-notifications", "key", "body"} -> {"valid"}: validateHMAC on every item
//   {"op": "sign-raw", "key", "body"} -> {"headers": [["HmacSignature", calculateHmac(body, key)]]}
//   {"op": "verify-raw", "key", "body", "headers"} -> {"valid"}: validateHMACSignature

import adyen from "@adyen/api-library";

const validator = new adyen.hmacValidator();

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

function items(body) {
  return body.notificationItems.map((entry) => entry.NotificationRequestItem);
}

function run(op) {
  switch (op.op) {
    case "sign-notifications": {
      const body = JSON.parse(op.body);
      for (const item of items(body)) {
        item.additionalData = item.additionalData ?? {};
        item.additionalData.hmacSignature = validator.calculateHmac(item, op.key);
      }
      return { body: JSON.stringify(body) };
    }
    case "verify-notifications": {
      let valid;
      try {
        valid = items(JSON.parse(op.body)).every((item) => validator.validateHMAC(item, op.key));
      } catch (error) {
        return { valid: false, reason: String(error) };
      }
      return valid ? { valid: true } : { valid: false, reason: "validateHMAC returned false" };
    }
    case "sign-raw":
      return { headers: [["HmacSignature", validator.calculateHmac(op.body, op.key)]] };
    case "verify-raw": {
      const valid = validator.validateHMACSignature(op.key, header(op.headers, "hmacsignature"), op.body);
      return valid ? { valid: true } : { valid: false, reason: "validateHMACSignature returned false" };
    }
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

const request = JSON.parse(await readStdin());
process.stdout.write(JSON.stringify({ results: request.ops.map(run) }) + "\n");
