#!/usr/bin/env node
// Contentful's official request-verification helpers (npm @contentful/node-apps-toolkit,
// pinned by ../package-lock.json): signRequest and verifyRequest.
// Protocol (protocol.py's framing, ops of its own):
//   {"op": "sign", "secret", "method", "path", "body", "timestamp" (Unix ms),
//    "headers": {name: value} to sign besides Contentful's own} -> {"headers": [[name, value], ...]}
//   {"op": "verify", "secret", "method", "path", "body", "headers": [[name, value], ...]}
//     -> {"valid"}; the library's clock check is off (ttl 0): the tests fix the clock elsewhere.

import { signRequest, verifyRequest } from "@contentful/node-apps-toolkit";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function run(op) {
  switch (op.op) {
    case "sign": {
      const signed = signRequest(
        op.secret,
        { method: op.method, path: op.path, headers: op.headers, body: op.body },
        op.timestamp,
      );
      // The signed headers the caller chose travel with the request too.
      return { headers: [...Object.entries(op.headers), ...Object.entries(signed)] };
    }
    case "verify": {
      const headers = Object.fromEntries(op.headers);
      try {
        const valid = verifyRequest(op.secret, { method: op.method, path: op.path, headers, body: op.body }, 0);
        return valid ? { valid: true } : { valid: false, reason: "verifyRequest returned false" };
      } catch (error) {
        return { valid: false, reason: String(error) };
      }
    }
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

const request = JSON.parse(await readStdin());
process.stdout.write(JSON.stringify({ results: request.ops.map(run) }) + "\n");
