// Verify a silverpay webhook in Node (no dependencies: node:crypto only).
//
//   Silverpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=…]
//
// A ten-line receiver (node:http; any framework works if you keep the RAW body):
//
//   import http from "node:http";
//   import { verify } from "./verify.mjs";
//   http.createServer((req, res) => {
//     const chunks = [];
//     req.on("data", (c) => chunks.push(c)).on("end", () => {
//       let event;
//       try { event = verify(Buffer.concat(chunks), req.headers["silverpay-signature"], process.env.WHSEC); }
//       catch { res.writeHead(400).end(); return; }
//       if (event.type === "order.paid") console.log("paid", event.data.object.merchant_order_no);
//       res.writeHead(200).end();   // deliveries are at-least-once: handle event.id idempotently
//     });
//   }).listen(3000);

import { createHmac, timingSafeEqual } from "node:crypto";

export class WebhookVerificationError extends Error {}

export function signature(secret, timestamp, payload) {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(payload).digest("hex");
}

export function signHeader(payload, secrets, timestamp) {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${signature(s, timestamp, payload)}`)].join(",");
}

/** The parsed event if `header` signs `payload` (the raw body: Buffer or string) under `secret`
 * within `toleranceS` seconds of `nowS`; otherwise throws WebhookVerificationError. */
export function verify(payload, header, secret, { toleranceS = 300, nowS = Date.now() / 1000 } = {}) {
  if (!header) throw new WebhookVerificationError("no Silverpay-Signature header");
  let timestamp = null;
  const candidates = [];
  for (const part of String(header).split(",")) {
    const [name, value = ""] = part.trim().split("=", 2);
    if (name === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (name === "v1" && value) candidates.push(value);
  }
  if (timestamp === null || candidates.length === 0) {
    throw new WebhookVerificationError("malformed Silverpay-Signature header");
  }
  const expected = Buffer.from(signature(secret, timestamp, payload), "utf8");
  let matched = false;
  for (const candidate of candidates) {
    const given = Buffer.from(candidate, "utf8");
    // timingSafeEqual needs equal lengths; a wrong length is no match, compared anyway for constant time
    const same = given.length === expected.length && timingSafeEqual(given, expected);
    matched = matched || same;
  }
  if (!matched) throw new WebhookVerificationError("no signature matches the payload");
  if (toleranceS > 0 && Math.abs(nowS - timestamp) > toleranceS) {
    throw new WebhookVerificationError("timestamp outside the tolerance");
  }
  return JSON.parse(Buffer.isBuffer(payload) ? payload.toString("utf8") : payload);
}
