/**
 * Where the limits run: in the preaccess phase, before authentication (nginx runs limit_req and
 * limit_conn in NGX_HTTP_PREACCESS_PHASE, before auth_basic and auth_request), so a flood is refused
 * without paying for a key lookup, a bcrypt or a JWT check; a limit whose key names the consumer
 * (`consumer`, `$consumer_name`) counts after the auth plugins instead, where the consumer is known.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { PorticoConfig } from "../../src/config/schema.js";
import { createGateway } from "../../src/gateway.js";
import { startEcho } from "../helpers/gateway.js";

const ALICE_KEY = "alice-key-0123456789";
const BOB_KEY = "bob-key-9876543210";
const consumers = { alice: { keyAuth: [{ key: ALICE_KEY }] }, bob: { keyAuth: [{ key: BOB_KEY }] } };

async function gateway(t: TestContext, location: Record<string, unknown>) {
  const up = await startEcho(t);
  const config = { consumers, virtualHosts: { localhost: { default: true, locations: { "/": { proxyPass: up.origin, keyAuth: {}, ...location } } } } };
  const gw = await createGateway(config as PorticoConfig);
  t.after(() => gw.close());
  return { gw, up };
}

const statuses = async (gw: { inject(o: { url: string; headers?: Record<string, string> }): Promise<{ status: number }> }, keys: Array<string | null>) => {
  const out: number[] = [];
  for (const key of keys) out.push((await gw.inject({ url: "/x", ...(key ? { headers: { apikey: key } } : {}) })).status);
  return out;
};

test("limitReq and limitCount by address refuse before authentication: the second keyless request gets the limit's status, not 401", async (t) => {
  for (const limit of [{ limitReq: { rate: "1r/m", key: "ip" } }, { limitCount: { count: 1, window: "1h", key: "ip" } }]) {
    const { gw, up } = await gateway(t, limit);
    assert.deepEqual(await statuses(gw, [null, null, ALICE_KEY]), [401, 429, 429], Object.keys(limit)[0]);
    assert.equal(up.seen.length, 0, "nothing reached the upstream");
  }
});

test("limitConn by address takes its slot before authentication and gives it back when the 401 is sent", async (t) => {
  const { gw, up } = await gateway(t, { limitConn: { conn: 1, key: "ip" } });
  assert.deepEqual(await statuses(gw, [null, null, ALICE_KEY, ALICE_KEY]), [401, 401, 200, 200]);
  assert.equal(up.seen.length, 2);
});

test("a limit keyed on the consumer counts after authentication: each consumer has its own count", async (t) => {
  for (const limit of [
    { limitCount: { count: 1, window: "1h" } }, // key: consumer is limitCount's default
    { limitCount: { count: 1, window: "1h", key: "$consumer_name:$uri" } },
    { limitReq: { rate: "1r/m", key: "consumer" } },
  ]) {
    const { gw } = await gateway(t, limit);
    assert.deepEqual(await statuses(gw, [ALICE_KEY, ALICE_KEY, BOB_KEY, null, null]), [200, 429, 200, 401, 401], JSON.stringify(limit));
  }
});
