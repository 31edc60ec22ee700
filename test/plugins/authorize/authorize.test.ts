/**
 * authorize: the schema, then decisions over inject(): by consumer, group, method, JWT claims and
 * scopes, after keyAuth and jwtAuth; refusals are 403 with a JSON reason; an unauthenticated request
 * is refused; path tricks cannot reach a protected location.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { SignJWT } from "jose";
import { createGateway } from "../../../src/gateway.js";
import { authorizeSchema } from "../../../src/plugins/authorize/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

const SECRET = "an-hmac-secret-of-at-least-32-bytes!!";
const consumers = {
  alice: { groups: ["admin", "staff"], keyAuth: [{ key: "alice-key-0123456789" }] },
  bob: { groups: ["staff"], keyAuth: [{ key: "bob-key-0123456789" }] },
  eve: { groups: ["staff", "suspended"], keyAuth: [{ key: "eve-key-0123456789" }] },
  guest: {},
};
const KEYS = { alice: "alice-key-0123456789", bob: "bob-key-0123456789", eve: "eve-key-0123456789" };

test("schema: every field optional, methods and claims checked, unknown fields refused", () => {
  const parsed = authorizeSchema.parse({});
  assert.deepEqual(parsed, { scopeClaims: ["scope", "scp"], status: 403 });
  assert.equal(authorizeSchema.safeParse({ allowGroups: [] }).success, false, "an empty allow list would refuse everyone: a mistake");
  assert.equal(authorizeSchema.safeParse({ methods: ["GET POST"] }).success, false);
  assert.equal(authorizeSchema.safeParse({ requireClaims: { role: { nested: true } } }).success, false);
  assert.equal(authorizeSchema.safeParse({ requireClaims: { role: ["a", 1, true] } }).success, true);
  assert.equal(authorizeSchema.safeParse({ rules: [{ methods: ["DELETE"], allowGroups: ["admin"] }] }).success, true);
  assert.equal(authorizeSchema.safeParse({ allow: ["x"] }).success, false);
  assert.equal(authorizeSchema.safeParse({ rules: [{ scopeClaims: ["x"] }] }).success, false, "rules have rule fields only");
});

async function keyGateway(t: TestContext, authorize: unknown, keyAuth: unknown = {}) {
  const up = await startEcho(t);
  const logs = captureLogs();
  const gw = await createGateway(
    singleHost({ "/": { proxyPass: up.origin, keyAuth: keyAuth as never, authorize: authorize as never } }, { consumers: consumers as never }),
    { logger: logs.logger },
  );
  t.after(() => gw.close());
  const as = async (who: keyof typeof KEYS | null, method = "GET") => {
    const res = await gw.inject({ method, url: "/x", headers: who ? { apikey: KEYS[who] } : {} });
    return res.status === 200 ? 200 : `${res.status} ${res.json<{ reason: string }>().reason}`;
  };
  return { gw, up, logs, as };
}

test("by group and consumer: allow and deny lists; deny wins", async (t) => {
  const { as, gw, logs, up } = await keyGateway(t, { allowGroups: ["staff"], denyGroups: ["suspended"], denyConsumers: ["bob"] });
  assert.equal(await as("alice"), 200);
  assert.equal(await as("bob"), "403 consumer not allowed");
  assert.equal(await as("eve"), "403 consumer group not allowed");
  assert.equal(up.seen.length, 1);
  const res = await gw.inject({ url: "/x", headers: { apikey: KEYS.eve } });
  const body = res.json<{ message: string; reason: string; requestId: string }>();
  assert.equal(body.message, "Forbidden");
  const line = logs.lines.findLast((entry) => entry.requestId === body.requestId);
  assert.equal(line?.code, "PTC_ERR_AUTH_FORBIDDEN");
  assert.equal(line?.consumer, "eve");

  const only = await keyGateway(t, { allowConsumers: ["bob"] });
  assert.equal(await only.as("bob"), 200);
  assert.equal(await only.as("alice"), "403 consumer not allowed");
});

test("by method: rules apply to their methods only; all matching rules must pass", async (t) => {
  const { as } = await keyGateway(t, {
    allowGroups: ["staff"],
    rules: [
      { methods: ["POST", "PUT", "DELETE"], allowGroups: ["admin"] },
      { methods: ["DELETE"], allowConsumers: ["root"] },
    ],
  });
  assert.equal(await as("bob", "GET"), 200);
  assert.equal(await as("bob", "POST"), "403 consumer group not allowed");
  assert.equal(await as("alice", "POST"), 200);
  assert.equal(await as("alice", "delete"), "403 consumer not allowed", "methods are matched in upper case");
});

test("unauthenticated requests are refused; the anonymous consumer is judged like any other", async (t) => {
  const anon = await keyGateway(t, { denyConsumers: ["guest"] }, { anonymous: "guest" });
  assert.equal(await anon.as(null), "403 consumer not allowed");
  assert.equal(await anon.as("bob"), 200);

  const up = await startEcho(t);
  const gw = await createGateway(singleHost({ "/": { proxyPass: up.origin, authorize: {} } }), { logger: captureLogs().logger });
  t.after(() => gw.close());
  const res = await gw.inject({ url: "/", headers: { "x-consumer-username": "alice" } });
  assert.equal(res.status, 403, "a forged header is no authentication");
  assert.equal(res.json<{ reason: string }>().reason, "authentication required");
});

test("by JWT scopes and claims (after jwtAuth): scope strings and scp lists, nested claims, any-of, presence", async (t) => {
  const up = await startEcho(t);
  const gw = await createGateway(
    singleHost({
      "/": {
        proxyPass: up.origin,
        jwtAuth: { secret: SECRET },
        authorize: {
          requireScopes: ["orders:read"],
          requireClaims: { "realm_access.roles": ["clerk", "manager"], tenant: "acme", email_verified: true, "org.id": "*" },
          rules: [{ methods: ["POST"], requireScopes: ["orders:write"] }],
        },
      },
    }),
    { logger: captureLogs().logger },
  );
  t.after(() => gw.close());
  const base = { scope: "orders:read profile", realm_access: { roles: ["clerk"] }, tenant: "acme", email_verified: true, org: { id: 7 } };
  const call = async (claims: Record<string, unknown>, method = "GET") => {
    const token = await new SignJWT({ sub: "u1", ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET));
    const res = await gw.inject({ method, url: "/", headers: { authorization: `Bearer ${token}` } });
    return res.status === 200 ? 200 : `${res.status} ${res.json<{ reason: string }>().reason}`;
  };
  assert.equal(await call(base), 200);
  assert.equal(await call({ ...base, scope: undefined, scp: ["orders:read"] }), 200, "scp as a list");
  assert.equal(await call({ ...base, scope: "profile" }), "403 missing scope: orders:read");
  assert.equal(await call({ ...base, scope: "orders:reader" }), "403 missing scope: orders:read", "whole scopes, no prefixes");
  assert.equal(await call(base, "POST"), "403 missing scope: orders:write");
  assert.equal(await call({ ...base, scope: "orders:read orders:write" }, "POST"), 200);
  assert.equal(await call({ ...base, realm_access: { roles: ["manager", "x"] } }), 200);
  assert.equal(await call({ ...base, realm_access: { roles: ["guest"] } }), "403 claim realm_access.roles does not match");
  assert.equal(await call({ ...base, realm_access: undefined }), "403 claim realm_access.roles missing");
  assert.equal(await call({ ...base, tenant: "acme-evil" }), "403 claim tenant does not match");
  assert.equal(await call({ ...base, email_verified: "true" }), "403 claim email_verified does not match", "types matter");
  assert.equal(await call({ ...base, org: {} }), "403 claim org.id missing");
});

test("path tricks cannot reach a location protected by authorize", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost(
      { "/admin": { proxyPass: up.origin, keyAuth: {}, authorize: { allowGroups: ["admin"] } }, "/": { proxyPass: up.origin, keyAuth: {} } },
      { consumers: consumers as never },
    ),
  );
  for (const trick of ["/%61dmin", "/public/../admin", "//admin", "/admin/./x", "/public/%2e%2e/admin", "/./admin"]) {
    const res = await request(url, { path: trick, headers: { apikey: KEYS.bob } });
    assert.ok(res.status === 403 || res.status === 400, `${trick}: ${res.status}`);
  }
  assert.equal(up.seen.length, 0);
  assert.equal((await request(url, { path: "/public", headers: { apikey: KEYS.bob } })).status, 200);
  assert.equal((await request(url, { path: "//admin", headers: { apikey: KEYS.alice } })).status, 200);
});
