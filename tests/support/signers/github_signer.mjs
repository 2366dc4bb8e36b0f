#!/usr/bin/env node
// Signs and verifies GitHub deliveries with GitHub's own library (npm
// @octokit/webhooks-methods, pinned by ../package-lock.json): `sign` and `verify`.
// Speaks the JSON protocol described in protocol.py: {"ops": [...]} on standard input,
// {"results": [...]} on standard output. GitHub sends one signature, so a sign op takes
// one secret; the library signs a string, UTF-8 encoded.

import { sign, verify } from "@octokit/webhooks-methods";

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

const handlers = {
  async sign(op) {
    if (op.secrets.length !== 1) {
      throw new Error("GitHub signs with exactly one secret");
    }
    return { headers: [["X-Hub-Signature-256", await sign(op.secrets[0], op.body)]] };
  },
  async verify(op) {
    const signature = header(op.headers, "x-hub-signature-256");
    if (signature === undefined) {
      return { valid: false, reason: "no X-Hub-Signature-256 header" };
    }
    if (await verify(op.secret, op.body, signature)) {
      return { valid: true };
    }
    return { valid: false, reason: "verify() returned false" };
  },
};

const request = JSON.parse(await readStdin());
const results = [];
for (const op of request.ops) {
  const handler = handlers[op.op];
  if (handler === undefined) {
    throw new Error(`unknown op ${op.op}`);
  }
  results.push(await handler(op));
}
process.stdout.write(JSON.stringify({ results }) + "\n");
