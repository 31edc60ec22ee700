/**
 * The balancers, the passive health counters and the circuit breaker on their own: picks are
 * counted over many calls (no sockets: a server's pool is never touched by a pick).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pool } from "undici";
import { consistentHash } from "../../src/upstream/balancers/hash.js";
import { roundRobin } from "../../src/upstream/balancers/round-robin.js";
import { type BreakerOptions, BreakerState, breakerAllows, breakerRecord } from "../../src/upstream/circuit-breaker.js";
import { beginAttempt, endAttempt, isAvailable, OUTCOME_FAILED, OUTCOME_OK, PeerState } from "../../src/upstream/health.js";
import { createBalancer, type LoadBalancing, type UpstreamServer } from "../../src/upstream/pools.js";

function server(address: string, options: Partial<UpstreamServer> = {}): UpstreamServer {
  return {
    address,
    weight: 1,
    backup: false,
    down: false,
    options: { maxFails: 1, failTimeout: 10_000, breaker: null },
    state: new PeerState("test", address),
    origin: `http://${address}`,
    pool: null as unknown as Pool,
    ...options,
  };
}

function servers(count: number): UpstreamServer[] {
  return Array.from({ length: count }, (_, i) => server(`10.0.0.${i + 1}:80`));
}

function count(list: readonly UpstreamServer[], picks: number, pick: (i: number) => UpstreamServer | null): number[] {
  const counts = list.map(() => 0);
  for (let i = 0; i < picks; i++) {
    const picked = pick(i);
    assert.ok(picked);
    counts[list.indexOf(picked)]++;
  }
  return counts;
}

test("roundRobin: smooth weights 5:1:1 as nginx (a a b a c a a), unavailable and tried servers skipped", () => {
  const list = [server("a:1", { weight: 5 }), server("b:1"), server("c:1")];
  const balancer = createBalancer(list);
  const order = Array.from({ length: 7 }, () => (balancer() as UpstreamServer).address[0]).join("");
  assert.equal(order, "aabacaa");
  const equal = servers(3);
  const rr = createBalancer(equal);
  (equal[1] as UpstreamServer).state.blocked = 2;
  assert.deepEqual(
    count(equal, 10, () => rr()),
    [5, 0, 5],
  );
  assert.equal(rr(new Set([equal[0] as UpstreamServer, equal[2] as UpstreamServer])), null);
});

test("backup servers take traffic only while no primary is available; down servers never", () => {
  const list = [server("a:1"), server("b:1", { backup: true }), server("c:1", { down: true })];
  const balancer = createBalancer(list);
  assert.deepEqual(
    count(list, 4, () => balancer()),
    [4, 0, 0],
  );
  (list[0] as UpstreamServer).state.blocked = 2;
  assert.deepEqual(
    count(list, 4, () => balancer()),
    [0, 4, 0],
  );
  assert.equal(balancer(new Set([list[1] as UpstreamServer])), null);
});

test("leastConn picks the fewest in flight relative to weight; ties rotate", () => {
  const list = servers(3);
  const balancer = createBalancer(list, "leastConn");
  assert.deepEqual(
    count(list, 6, () => balancer()),
    [2, 2, 2],
  );
  (list[0] as UpstreamServer).state.inFlight = 2;
  (list[1] as UpstreamServer).state.inFlight = 1;
  assert.equal(balancer(), list[2]);
  const weighted = [server("a:1", { weight: 4 }), server("b:1")];
  const lc = createBalancer(weighted, "leastConn");
  (weighted[0] as UpstreamServer).state.inFlight = 3;
  (weighted[1] as UpstreamServer).state.inFlight = 1;
  // 3/4 < 1/1
  assert.equal(lc(), weighted[0]);
});

test("random2 prefers the less busy of two draws and follows the weights", () => {
  const list = [server("a:1", { weight: 3 }), server("b:1")];
  const balancer = createBalancer(list, "random2");
  const counts = count(list, 4000, () => balancer());
  assert.ok(Math.abs((counts[0] as number) / 4000 - 0.75) < 0.05, `split ${counts.join("/")}`);
  (list[0] as UpstreamServer).state.inFlight = 5;
  // Whenever b is drawn it wins: with weights 3:1, at least one of two draws is b with probability 7/16.
  const busy = count(list, 4000, () => balancer());
  assert.ok((busy[1] as number) > 1400, `split ${busy.join("/")}`);
});

function keyOwners(list: readonly UpstreamServer[], keys: readonly string[]): string[] {
  const balancer = consistentHash(list, roundRobin(list));
  return keys.map((key) => (balancer.pick(null, key) as UpstreamServer).address);
}

test("hash: consistent; adding a 5th server moves about 1/5 of 10 000 keys, all to it; removing one moves only its keys", () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `client-${i}`);
  const four = servers(4);
  const before = keyOwners(four, keys);
  assert.deepEqual(keyOwners(servers(4), keys), before, "the same servers give the same mapping");
  const shares = four.map((s) => before.filter((owner) => owner === s.address).length / keys.length);
  for (const share of shares) assert.ok(share > 0.15 && share < 0.35, `unbalanced ring: ${shares.join(", ")}`);

  const five = [...four, server("10.0.0.99:80")];
  const after = keyOwners(five, keys);
  const moved = keys.filter((_, i) => after[i] !== before[i]);
  for (const key of moved) assert.equal(after[keys.indexOf(key)], "10.0.0.99:80");
  const fraction = moved.length / keys.length;
  assert.ok(fraction > 0.12 && fraction < 0.28, `moved ${fraction}`);

  const three = four.filter((s) => s.address !== "10.0.0.2:80");
  const removed = keyOwners(three, keys);
  keys.forEach((_, i) => {
    if (before[i] !== "10.0.0.2:80") assert.equal(removed[i], before[i]);
  });
});

test("hash: an unavailable server's keys go to the next server on the ring; an empty key falls back to round-robin", () => {
  const list = servers(3);
  const balancer = createBalancer(list, "hash");
  const owner = balancer(null, "user-1") as UpstreamServer;
  owner.state.blocked = 2;
  const next = balancer(null, "user-1") as UpstreamServer;
  assert.notEqual(next, owner);
  assert.equal(balancer(null, "user-1"), next);
  owner.state.blocked = 0;
  assert.equal(balancer(null, "user-1"), owner);
  assert.equal(balancer(new Set([owner]), "user-1"), next);
  assert.deepEqual(
    count(list, 6, () => balancer(null, "")),
    [2, 2, 2],
  );
});

test("passive health: maxFails failures within failTimeout take a server out; it is tried again after failTimeout", () => {
  const peer = server("a:1", { options: { maxFails: 2, failTimeout: 1000, breaker: null } });
  beginAttempt(peer);
  endAttempt(peer, OUTCOME_FAILED);
  assert.equal(isAvailable(peer), true);
  assert.equal(peer.state.fails, 1);
  beginAttempt(peer);
  endAttempt(peer, OUTCOME_FAILED);
  assert.equal(isAvailable(peer), false);
  assert.equal(peer.state.inFlight, 0);
  // failTimeout later (the clock moved back instead of waiting).
  peer.state.lastFail -= 1001;
  assert.equal(isAvailable(peer), true);
  // nginx: the first failure after that takes it out again at once.
  endAttempt(peer, OUTCOME_FAILED);
  assert.equal(isAvailable(peer), false);
  peer.state.lastFail -= 1001;
  assert.equal(isAvailable(peer), true);
  endAttempt(peer, OUTCOME_OK);
  assert.equal(peer.state.fails, 0);
  // A failure long after the previous one starts a new window.
  endAttempt(peer, OUTCOME_FAILED);
  peer.state.lastFail -= 5000;
  endAttempt(peer, OUTCOME_FAILED);
  assert.equal(peer.state.fails, 1);
  assert.equal(isAvailable(peer), true);
  const never = server("b:1", { options: { maxFails: 0, failTimeout: 1000, breaker: null } });
  for (let i = 0; i < 5; i++) endAttempt(never, OUTCOME_FAILED);
  assert.equal(isAvailable(never), true);
});

test("circuit breaker: consecutive failures, error ratio over a window, half-open probe", () => {
  const options: BreakerOptions = { failures: 3, errorRatio: 0, minRequests: 4, window: 1000, openTimeout: 500 };
  const state = new BreakerState();
  assert.equal(breakerRecord(state, options, false, 0), null);
  assert.equal(breakerRecord(state, options, true, 1), null);
  assert.equal(breakerRecord(state, options, false, 2), null);
  assert.equal(breakerRecord(state, options, false, 3), null);
  assert.equal(breakerRecord(state, options, false, 4), "open");
  assert.deepEqual(breakerAllows(state, 100), { allows: false, changed: null });
  assert.deepEqual(breakerAllows(state, 504), { allows: true, changed: "halfOpen" });
  state.probeInFlight = true;
  assert.deepEqual(breakerAllows(state, 505), { allows: false, changed: null });
  assert.equal(breakerRecord(state, options, false, 506), "open");
  assert.equal(state.openUntil, 1006);
  breakerAllows(state, 1006);
  assert.equal(breakerRecord(state, options, true, 1007), "closed");

  const ratio: BreakerOptions = { failures: 0, errorRatio: 0.5, minRequests: 4, window: 1000, openTimeout: 500 };
  const r = new BreakerState();
  assert.equal(breakerRecord(r, ratio, false, 0), null);
  assert.equal(breakerRecord(r, ratio, true, 1), null);
  assert.equal(breakerRecord(r, ratio, true, 2), null);
  // 2 of 4 failed: 50 %.
  assert.equal(breakerRecord(r, ratio, false, 3), "open");
  const fresh = new BreakerState();
  breakerRecord(fresh, ratio, false, 0);
  breakerRecord(fresh, ratio, false, 1);
  // The window ran out: the old failures no longer count.
  for (const [ok, at] of [
    [true, 2000],
    [true, 2001],
    [true, 2002],
  ] as const)
    assert.equal(breakerRecord(fresh, ratio, ok, at), null);
  assert.equal(breakerRecord(fresh, ratio, false, 2003), null);
});

test("every method skips what is unavailable and returns null when nothing is left", () => {
  for (const method of ["roundRobin", "leastConn", "random2", "hash"] as LoadBalancing[]) {
    const list = servers(3);
    const balancer = createBalancer(list, method);
    for (const s of list) s.state.blocked = 2;
    assert.equal(balancer(null, "k"), null, method);
    (list[1] as UpstreamServer).state.blocked = 0;
    for (let i = 0; i < 10; i++) assert.equal(balancer(null, `k${i}`), list[1], method);
  }
});
