// Sends each request of a plan with Node's built-in http2 client and prints what it saw.
//
// Used by tests/e2e/slow_and_h2.rs (issue 9, item 7: every refusal over HTTP/2 must reach
// the client intact, whatever the size of the body it refused). Usage:
//
//     node h2_refusals.mjs ORIGIN CA_FILE SERVER_NAME PLAN_JSON
//
// PLAN_JSON is a list of {"name", "method", "path", "headers", "size"}; each request carries a
// body of `size` bytes. One JSON line per request: {"name", "size", "status", "body"} or,
// when the stream failed, {"name", "size", "error"}. All requests share one session.

import http2 from "node:http2";
import fs from "node:fs";

const [origin, caFile, serverName, planFile] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planFile, "utf8"));
const session = http2.connect(origin, {
  ca: fs.readFileSync(caFile),
  servername: serverName,
});
session.on("error", (err) => {
  console.log(JSON.stringify({ name: "session", size: 0, error: String(err) }));
});

function send(item) {
  return new Promise((resolve) => {
    const result = { name: item.name, size: item.size };
    // Node's client declares no length by itself; webhook senders do.
    const request = session.request({
      ":method": item.method,
      ":path": item.path,
      "content-length": String(item.size),
      ...item.headers,
    });
    const chunks = [];
    let settled = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      if (error) {
        result.error = `${error.code ?? ""} ${error.message}`.trim();
      } else {
        result.body = Buffer.concat(chunks).toString("utf8");
      }
      resolve(result);
    };
    request.setTimeout(10_000, () => finish(new Error("no answer within 10 s")));
    request.on("response", (headers) => {
      result.status = headers[":status"];
    });
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("error", (err) => finish(err));
    // "end" is the whole answer; "close" also reports a stream the server reset.
    request.on("end", () => finish(null));
    request.on("close", () => {
      if (request.rstCode && request.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        finish(new Error(`stream reset with code ${request.rstCode}`));
      } else {
        finish(null);
      }
    });
    request.end(Buffer.alloc(item.size, "x"));
  });
}

for (const item of plan) {
  console.log(JSON.stringify(await send(item)));
}
session.close();
