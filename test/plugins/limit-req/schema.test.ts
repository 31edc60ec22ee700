import assert from "node:assert/strict";
import { test } from "node:test";
import { limitReqSchema, parseRate } from "../../../src/plugins/limit-req/schema.js";

test("limitReq schema: nginx's defaults (burst 0, delayed, 429)", () => {
  const result = limitReqSchema.safeParse({ rate: "10r/s" });
  assert.ok(result.success);
  assert.deepEqual(
    [result.data.burst, result.data.nodelay, result.data.delay, result.data.key, result.data.status, result.data.onStoreError],
    [0, false, undefined, "ip", 429, "allow"],
  );
});

test("limitReq schema: refuses bad rates and contradictions", () => {
  for (const value of [
    {},
    { rate: "10" },
    { rate: "10r/h" },
    { rate: "0r/s" },
    { rate: "-1r/s" },
    { rate: "1r/s", burst: -1 },
    { rate: "1r/s", burst: 1.5 },
    { rate: "1r/s", nodelay: true, delay: 2 },
    { rate: "1r/s", delay: -1 },
    { rate: "1r/s", status: 302 },
    { rate: "1r/s", zone: "one" },
  ]) {
    assert.equal(limitReqSchema.safeParse(value).success, false, JSON.stringify(value));
  }
});

test("rates are kept as nginx keeps them, in requests per 1000 s", () => {
  assert.equal(parseRate("10r/s"), 10_000);
  assert.equal(parseRate(" 1r/s "), 1000);
  assert.equal(parseRate("30r/m"), 500);
  assert.equal(parseRate("1r/m"), 16);
});
