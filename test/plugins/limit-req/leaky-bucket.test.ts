/** nginx's leaky bucket arithmetic (ngx_http_limit_req_lookup), on the memory store with a clock the test moves. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryReqStore } from "../../../src/plugins/limit-req/stores/memory.js";

test("excess in milli-requests: +1000 a request, leaking at the rate; over the burst is refused and changes nothing", () => {
  const c = { now: 1_000_000 };
  const store = new MemoryReqStore(2000, 1, 100, () => c.now); // 2r/s burst=1
  assert.deepEqual(store.take("k"), { allowed: true, excess: 0 });
  assert.deepEqual(store.take("k"), { allowed: true, excess: 1000 });
  assert.deepEqual(store.take("k"), { allowed: false, excess: 2000 });
  c.now += 250; // leaked 500
  assert.deepEqual(store.take("k"), { allowed: false, excess: 1500 });
  c.now += 250; // leaked 1000 since the last accepted request
  assert.deepEqual(store.take("k"), { allowed: true, excess: 1000 });
  c.now += 10_000;
  assert.deepEqual(store.take("k"), { allowed: true, excess: 0 }); // nginx clamps excess - leak + 1000 at 0
  assert.deepEqual(store.take("other"), { allowed: true, excess: 0 });
});

test("burst 0: one request per 1/rate, the clock going backwards does not help", () => {
  const c = { now: 1_000_000 };
  const store = new MemoryReqStore(10_000, 0, 100, () => c.now); // 10r/s
  assert.equal(store.take("k").allowed, true);
  c.now += 50;
  assert.equal(store.take("k").allowed, false);
  c.now += 50;
  assert.equal(store.take("k").allowed, true);
  c.now -= 30; // ms < 0 counts as 0 (nginx)
  assert.equal(store.take("k").allowed, false);
});
