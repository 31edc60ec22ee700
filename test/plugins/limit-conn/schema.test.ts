import assert from "node:assert/strict";
import { test } from "node:test";
import { limitConnSchema } from "../../../src/plugins/limit-conn/schema.js";

test("limitConn schema: defaults and refusals", () => {
  const result = limitConnSchema.safeParse({ conn: 2 });
  assert.ok(result.success);
  assert.deepEqual([result.data.key, result.data.status, result.data.ttl, result.data.onStoreError], ["ip", 429, "1h", "allow"]);
  for (const value of [{}, { conn: 0 }, { conn: 1.5 }, { conn: 1, ttl: "soon" }, { conn: 1, key: "nobody" }, { conn: 1, status: 200 }, { conn: 1, burst: 2 }]) {
    assert.equal(limitConnSchema.safeParse(value).success, false, JSON.stringify(value));
  }
});
