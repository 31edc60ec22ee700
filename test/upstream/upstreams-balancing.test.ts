/**
 * loadBalancing over real echo upstreams: the share each server gets for roundRobin (weights),
 * leastConn (a busy server is avoided), random2 (weights, roughly) and hash (same key, same
 * server; adding a server moves a minority of keys, all to the new one).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { PorticoConfig } from "../../src/config/schema.js";
import type { EchoUpstream } from "../fixtures/echo-upstream.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { openRequest, servedBy } from "../helpers/upstreams.js";

function group(echoes: readonly EchoUpstream[], extra: Record<string, unknown> = {}, weights: number[] = []): PorticoConfig {
  const servers = Object.fromEntries(echoes.map((echo, i) => [`127.0.0.1:${echo.port}`, weights[i] ? { weight: weights[i] } : {}]));
  return singleHost({ "/": { proxyPass: "http://pool" } }, { upstreams: { pool: { servers, ...extra } } });
}

async function shares(url: string, echoes: readonly EchoUpstream[], count: number, prefix: string, headers?: (i: number) => Record<string, string>) {
  const counts = echoes.map(() => 0);
  for (let i = 0; i < count; i++) {
    const path = `/anything/${prefix}/${i}`;
    const res = await request(`${url}${path}`, headers ? { headers: headers(i) } : {});
    assert.equal(res.status, 200);
    const index = servedBy(echoes, path);
    assert.ok(index >= 0, `${path} reached no server`);
    counts[index] = (counts[index] as number) + 1;
  }
  return counts;
}

test("roundRobin with weights 3:1 sends 75 % / 25 % of 200 requests", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t)];
  const { url } = await startGateway(t, group(echoes, { loadBalancing: "roundRobin" }, [3, 1]));
  assert.deepEqual(await shares(url, echoes, 200, "rr"), [150, 50]);
});

test("random2 with weights 3:1 sends about 75 % / 25 % (power of two choices, idle servers)", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t)];
  const { url } = await startGateway(t, group(echoes, { loadBalancing: "random2" }, [3, 1]));
  const counts = await shares(url, echoes, 400, "r2");
  // Expected 300/100, standard deviation ~9: the bounds are over 4 deviations away.
  assert.ok((counts[0] as number) > 260 && (counts[0] as number) < 340, `split ${counts.join("/")}`);
});

test("random2 over three equal servers uses all three", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t), await startEcho(t)];
  const { url } = await startGateway(t, group(echoes, { loadBalancing: "random2" }));
  const counts = await shares(url, echoes, 300, "r3");
  for (const count of counts) assert.ok(count > 50 && count < 150, `uneven split ${counts.join("/")}`);
});

test("leastConn sends everything to the idle server while the other holds a request", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t)];
  const { url } = await startGateway(t, group(echoes, { loadBalancing: "leastConn" }));
  const held = await openRequest(`${url}/hold/busy`);
  const busy = servedBy(echoes, "/hold/busy");
  assert.ok(busy >= 0);
  const counts = await shares(url, echoes, 20, "lc");
  assert.equal(counts[busy], 0, `the busy server got ${counts[busy]} requests`);
  assert.equal(counts[1 - busy], 20);
  (echoes[busy] as EchoUpstream).release("busy");
  assert.equal(await held.done, "first\nlast\n");
  // Idle again: the two share the load.
  const after = await shares(url, echoes, 20, "lc2");
  assert.deepEqual(after, [10, 10]);
});

test("hash on $http_x_user: a key always reaches the same server; adding a server moves a minority of keys, all to it", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t), await startEcho(t)];
  const extra = { loadBalancing: "hash", hashKey: "$http_x_user" };
  const { gw, url } = await startGateway(t, group(echoes.slice(0, 2), extra));
  const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
  const before: number[] = [];
  for (const [i, user] of users.entries()) {
    for (let round = 0; round < 2; round++) {
      const path = `/anything/h1/${i}/${round}`;
      assert.equal((await request(`${url}${path}`, { headers: { "x-user": user } })).status, 200);
      const index = servedBy(echoes, path);
      if (round === 0) before.push(index);
      else assert.equal(index, before[i], `${user} moved between two requests`);
    }
  }
  assert.ok(before.includes(0) && before.includes(1), "both servers take keys");

  await gw.reload(group(echoes, extra));
  let moved = 0;
  for (const [i, user] of users.entries()) {
    const path = `/anything/h2/${i}`;
    assert.equal((await request(`${url}${path}`, { headers: { "x-user": user } })).status, 200);
    const index = servedBy(echoes, path);
    if (index !== before[i]) {
      moved++;
      assert.equal(index, 2, `${user} moved from ${before[i]} to ${index}, not to the new server`);
    }
  }
  // Ideal: 1/3 of the keys (20 of 60).
  assert.ok(moved > 5 && moved < 35, `${moved} of 60 keys moved`);
});

test("in-flight counts return to zero after concurrent load, failures and retries included", async (t) => {
  const echoes = [await startEcho(t), await startEcho(t)];
  const config = group(echoes, { loadBalancing: "leastConn" });
  const { gw, url } = await startGateway(t, config);
  const paths = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? `/delay/${i}` : i % 3 === 1 ? `/status/500` : `/anything/c/${i}`));
  const results = await Promise.all(paths.map((path) => request(`${url}${path}`)));
  assert.ok(results.every((res) => res.status === 200 || res.status === 500));
  const status = gw.upstreamStatus()[0];
  assert.deepEqual(
    status?.servers.map((s) => s.inFlight),
    [0, 0],
  );
  assert.ok(
    echoes.every((echo) => echo.seen.length > 10),
    "both servers took part",
  );
});
