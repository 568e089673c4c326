import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { signHeader, verify, WebhookVerificationError } from "../verify.mjs";

const v = JSON.parse(readFileSync(new URL("../vectors.json", import.meta.url), "utf8"));
const at = { nowS: v.timestamp + 10 };

test("the vector's header is what signHeader makes", () => {
  assert.equal(signHeader(v.body, [v.secret], v.timestamp), v.header);
  assert.equal(signHeader(Buffer.from(v.body), [v.secret, v.old_secret], v.timestamp), v.header_rotating);
});

test("a genuine delivery verifies, as a string or raw bytes, with one or two v1", () => {
  assert.equal(verify(v.body, v.header, v.secret, at).id, "evt_42");
  assert.equal(verify(Buffer.from(v.body), v.header_rotating, v.secret, at).type, "order.paid");
  assert.equal(verify(v.body, v.header_rotating, v.old_secret, at).id, "evt_42");
});

test("tampered bodies, wrong secrets, old timestamps and bad headers are refused", () => {
  const refuse = (body, header, secret, opts = at) =>
    assert.throws(() => verify(body, header, secret, opts), WebhookVerificationError);
  refuse(v.body.replace("PAID", "CLOSED"), v.header, v.secret);
  refuse(v.body, v.header, "whsec_wrong");
  refuse(v.body, v.header, v.secret, { nowS: v.timestamp + 301 });
  refuse(v.body, v.header.replace(/^t=\d+/, "t=1700000001"), v.secret);
  refuse(v.body, "", v.secret);
  refuse(v.body, "v1=abc", v.secret);
  refuse(v.body, "t=1700000000", v.secret);
  refuse(v.body, "t=1700000000,v1=" + "0".repeat(63), v.secret);
});
