/** The window arithmetic, on the memory store with a clock the test moves (the Redis script is checked against it in stores.test.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryCountStore } from "../../../src/plugins/limit-count/stores/memory.js";

function clock(start: number) {
  const c = { now: start, fn: () => c.now };
  return c;
}

test("fixed window: count requests, then refusals until the window ends, then a fresh window", () => {
  const c = clock(60_000 * 1000);
  const store = new MemoryCountStore([{ count: 3, windowMs: 60_000, sliding: false }], 100, c.fn);
  assert.deepEqual(
    [1, 2, 3].map(() => store.check("k").remaining),
    [2, 1, 0],
  );
  c.now += 15_000;
  const refused = store.check("k");
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterMs, 45_000);
  assert.equal(refused.resetMs, 45_000);
  c.now += 45_000;
  assert.equal(store.check("k").allowed, true);
});

test("sliding window: the previous window counts by how much of it still overlaps", () => {
  const c = clock(60_000 * 1000);
  const store = new MemoryCountStore([{ count: 4, windowMs: 60_000, sliding: true }], 100, c.fn);
  for (let i = 0; i < 4; i++) assert.equal(store.check("k").allowed, true);
  c.now += 60_000; // start of the next window: the previous one weighs 4 * 1.0
  const refused = store.check("k");
  assert.equal(refused.allowed, false);
  // 4 * (60 - t) / 60 + 0 + 1 <= 4  ⇔  t >= 15 s
  assert.equal(refused.retryAfterMs, 15_000);
  c.now += 14_999;
  assert.equal(store.check("k").allowed, false);
  c.now += 1;
  assert.equal(store.check("k").allowed, true); // 4 * 0.75 + 0 + 1 = 4
  assert.equal(store.check("k").allowed, false); // 4 * 0.75 + 1 + 1 > 4
  c.now += 45_000; // end of the window: only this window's one request counts
  c.now += 60_000; // two windows later nothing counts
  assert.equal(store.check("k").remaining, 3);
});

test("fixed and sliding differ right after a boundary", () => {
  const c = clock(60_000 * 1000 + 50_000);
  const fixed = new MemoryCountStore([{ count: 2, windowMs: 60_000, sliding: false }], 100, c.fn);
  const sliding = new MemoryCountStore([{ count: 2, windowMs: 60_000, sliding: true }], 100, c.fn);
  for (let i = 0; i < 2; i++) {
    fixed.check("k");
    sliding.check("k");
  }
  c.now += 10_001;
  assert.equal(fixed.check("k").allowed, true);
  assert.equal(sliding.check("k").allowed, false);
});

test("several limits: all must allow; a refused request counts against none", () => {
  const c = clock(3_600_000 * 1000);
  const store = new MemoryCountStore(
    [
      { count: 2, windowMs: 1000, sliding: false },
      { count: 3, windowMs: 3_600_000, sliding: false },
    ],
    100,
    c.fn,
  );
  assert.equal(store.check("k").remaining, 1); // the per-second limit has fewer left
  assert.equal(store.check("k").allowed, true);
  const perSecond = store.check("k");
  assert.equal(perSecond.allowed, false);
  assert.equal(perSecond.limit, 2);
  c.now += 1000;
  const last = store.check("k");
  assert.deepEqual([last.allowed, last.limit, last.remaining], [true, 3, 0]);
  c.now += 1000;
  const perHour = store.check("k");
  assert.deepEqual([perHour.allowed, perHour.limit], [false, 3]);
  assert.equal(perHour.retryAfterMs, 3_600_000 - 2000);
});

test("the memory store keeps at most maxKeys keys", () => {
  const c = clock(1_000_000);
  const store = new MemoryCountStore([{ count: 1, windowMs: 60_000, sliding: false }], 2, c.fn);
  store.check("a");
  store.check("b");
  store.check("c"); // evicts a, the least recently used
  assert.equal(store.check("a").allowed, true);
  assert.equal(store.check("c").allowed, false);
});
