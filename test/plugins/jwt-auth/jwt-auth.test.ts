/**
 * jwtAuth: the schema, then tokens over inject() and real sockets: HS/RS/ES/EdDSA with the
 * plugin's key, consumers' credentials found by iss or kid, a JWKS from a loopback server (fetch,
 * unknown-kid refresh, rotation, rate-limited refresh, outage), every way to fail (missing,
 * malformed, expired, not yet valid, wrong signature, wrong issuer/audience, alg none, algorithm
 * confusion, forged consumer headers), the verified-token cache, and path tricks.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { createGateway } from "../../../src/gateway.js";
import type { Context } from "../../../src/lifecycle/context.js";
import { jwtAuthSchema } from "../../../src/plugins/jwt-auth/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

const SECRET = "an-hmac-secret-of-at-least-32-bytes!!";
const now = () => Math.floor(Date.now() / 1000);

async function sign(key: Parameters<SignJWT["sign"]>[0], alg: string, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const jwt = new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg, typ: "JWT", ...header }).setIssuedAt();
  if (claims.exp === undefined) jwt.setExpirationTime("10m");
  return jwt.sign(key);
}
const secretKey = new TextEncoder().encode(SECRET);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

test("schema: defaults, one key source, algorithms that fit the key", () => {
  const parsed = jwtAuthSchema.parse({ secret: SECRET });
  assert.deepEqual(parsed.headerNames, ["authorization"]);
  assert.deepEqual(parsed.uriParamNames, []);
  assert.equal(parsed.requireExp, true);
  assert.equal(parsed.clockSkew, "30s");
  assert.equal(parsed.keyClaimName, "iss");
  assert.equal(parsed.hideCredentials, true);
  assert.equal(jwtAuthSchema.safeParse({}).success, true, "consumers' credentials only");
  assert.equal(jwtAuthSchema.safeParse({ consumers: false }).success, false, "no key at all");
  assert.equal(jwtAuthSchema.safeParse({ secret: SECRET, publicKey: "x" }).success, false, "two keys");
  assert.equal(jwtAuthSchema.safeParse({ secret: "too-short" }).success, false);
  assert.equal(jwtAuthSchema.safeParse({ secret: SECRET, algorithms: ["RS256"] }).success, false, "RS256 with a secret: key confusion");
  assert.equal(jwtAuthSchema.safeParse({ jwksUri: "http://127.0.0.1:1/jwks", algorithms: ["HS256"] }).success, false);
  assert.equal(jwtAuthSchema.safeParse({ secret: SECRET, algorithms: ["none"] }).success, false, "none is no algorithm");
  assert.equal(jwtAuthSchema.safeParse({ jwksUri: "not a url" }).success, false);
  assert.equal(jwtAuthSchema.safeParse({ secret: SECRET, headerNames: [] }).success, false, "nowhere to look");
});

async function gatewayWith(t: TestContext, jwtAuth: unknown, consumers: Record<string, unknown> = {}) {
  const up = await startEcho(t);
  const logs = captureLogs();
  const gw = await createGateway(
    singleHost(
      {
        "/": {
          proxyPass: up.origin,
          jwtAuth: jwtAuth as never,
          access: (ctx: Context) => {
            ctx.request.headers["x-claims"] = JSON.stringify(ctx.jwt);
          },
        },
      },
      { consumers: consumers as never },
    ),
    { logger: logs.logger },
  );
  t.after(() => gw.close());
  return { gw, up, logs };
}

test("HS256 with the plugin's secret: claims on ctx.jwt, the consumer from sub, the token not forwarded, forged headers dropped", async (t) => {
  const { gw, up } = await gatewayWith(t, { secret: SECRET }, { alice: { groups: ["admin"] } });
  const token = await sign(secretKey, "HS256", { scope: "read write" });
  const res = await gw.inject({ url: "/x", headers: { authorization: `Bearer ${token}`, "x-consumer-username": "root", "x-consumer-groups": "root" } });
  assert.equal(res.status, 200);
  const seen = up.seen.at(-1);
  assert.equal(seen?.headers.authorization, undefined);
  assert.equal(seen?.headers["x-consumer-username"], "alice");
  assert.equal(seen?.headers["x-consumer-groups"], "admin");
  const claims = JSON.parse(String(seen?.headers["x-claims"]));
  assert.equal(claims.sub, "alice");
  assert.equal(claims.scope, "read write");

  // A subject that is no consumer: a consumer of that name without groups.
  await gw.inject({ url: "/x", headers: { authorization: `bearer ${await sign(secretKey, "HS256", { sub: "zed" })}`, "x-consumer-groups": "admin" } });
  assert.equal(up.seen.at(-1)?.headers["x-consumer-username"], "zed");
  assert.equal(up.seen.at(-1)?.headers["x-consumer-groups"], undefined);
});

test("every way to fail: 401, Bearer challenge with error=invalid_token, the precise reason only in the log", async (t) => {
  const { gw, up, logs } = await gatewayWith(t, { secret: SECRET, issuer: "https://issuer.test", audience: "api", clockSkew: "5s" });
  const good = { iss: "https://issuer.test", aud: "api" };
  const { privateKey: rsa } = await generateKeyPair("RS256");
  const unsignedHeader = b64url({ alg: "none", typ: "JWT" });
  const payload = b64url({ sub: "alice", ...good, exp: now() + 600 });
  const valid = await sign(secretKey, "HS256", good);
  const cases: Array<[string, string]> = [
    ["not-a-token", "malformed token"],
    ["a.b.c", "malformed token"],
    [`${unsignedHeader}.${payload}.`, "unsigned token (alg: none) refused"],
    [`${b64url({ alg: "NONE" })}.${payload}.`, "unsigned token (alg: none) refused"],
    [`${unsignedHeader}.${payload}.${valid.split(".")[2]}`, "unsigned token (alg: none) refused"],
    [await sign(new TextEncoder().encode("another-secret-also-32-bytes-long!!"), "HS256", good), "bad signature"],
    [`${valid.slice(0, valid.lastIndexOf(".") + 1)}${"A".repeat(43)}`, "bad signature"],
    [await sign(secretKey, "HS256", { ...good, exp: now() - 60 }), "token expired"],
    [await sign(secretKey, "HS256", { ...good, nbf: now() + 60 }), "claim nbf check failed: check_failed"],
    [await sign(secretKey, "HS256", { ...good, aud: "other" }), "claim aud check failed: check_failed"],
    [await sign(secretKey, "HS256", { iss: "https://issuer.test" }), "claim aud check failed: missing"],
    [await sign(secretKey, "HS256", { ...good, iss: "https://evil.test" }), "claim iss check failed: check_failed"],
    [await sign(secretKey, "HS384", good), "algorithm HS384 is not allowed (allowed: HS256)"],
    [await sign(rsa, "RS256", good), "algorithm RS256 is not allowed (allowed: HS256)"],
    [await new SignJWT({ sub: "alice", ...good }).setProtectedHeader({ alg: "HS256" }).sign(secretKey), "claim exp check failed: missing"],
  ];
  for (const [token, reason] of cases) {
    const res = await gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, reason);
    assert.equal(res.headers["www-authenticate"], 'Bearer realm="portico", error="invalid_token"', reason);
    const body = res.json<{ message: string; requestId: string }>();
    assert.equal(body.message, "Unauthorized");
    const line = logs.lines.findLast((entry) => entry.requestId === body.requestId);
    assert.equal(line?.reason, reason);
    assert.equal(line?.code, "PTC_ERR_AUTH_INVALID");
  }
  for (const headers of [{} as Record<string, string>, { authorization: "Basic YTpi" }, { authorization: "Bearer" }, { authorization: "Bearer " }]) {
    const res = await gw.inject({ url: "/", headers });
    assert.equal(res.status, 401);
    assert.equal(res.headers["www-authenticate"], 'Bearer realm="portico"', "no token: no error code (RFC 6750 3.1)");
  }
  assert.equal(up.seen.length, 0);
  assert.ok(!JSON.stringify(logs.lines).includes(valid.split(".")[2] as string), "tokens are never logged");
  // Within the clock skew: an expiry 3 s ago is still accepted, 5 s leeway.
  assert.equal(
    (await gw.inject({ url: "/", headers: { authorization: `Bearer ${await sign(secretKey, "HS256", { ...good, exp: now() - 3 })}` } })).status,
    200,
  );
  assert.equal((await gw.inject({ url: "/", headers: { authorization: `Bearer ${valid}` } })).status, 200);
});

for (const alg of ["RS256", "ES256", "EdDSA", "PS256"] as const) {
  test(`${alg} with a PEM public key: the algorithm comes from the key; the public key as an HMAC secret is refused`, async (t) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const pem = await exportSPKI(publicKey);
    const { gw, up } = await gatewayWith(t, { publicKey: pem, ...(alg === "PS256" ? { algorithms: ["PS256"] } : {}) });
    const token = await sign(privateKey, alg);
    assert.equal((await gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal(up.seen.at(-1)?.headers["x-consumer-username"], "alice");
    const confused = await sign(new TextEncoder().encode(pem), "HS256");
    assert.equal((await gw.inject({ url: "/", headers: { authorization: `Bearer ${confused}` } })).status, 401);
    const other = await generateKeyPair(alg);
    assert.equal((await gw.inject({ url: "/", headers: { authorization: `Bearer ${await sign(other.privateKey, alg)}` } })).status, 401, "another key");
  });
}

test("consumers' credentials (Kong): found by iss or kid, each with its own algorithm; forging another's is refused", async (t) => {
  const bobKeys = await generateKeyPair("ES256", { extractable: true });
  const consumers = {
    alice: { groups: ["a"], jwtAuth: [{ key: "alice-issuer", secret: SECRET }] },
    bob: { groups: ["b"], jwtAuth: [{ key: "bob-kid", publicKey: await exportSPKI(bobKeys.publicKey) }] },
  };
  const { gw, up, logs } = await gatewayWith(t, {}, consumers);
  const call = async (token: string) => {
    const res = await gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } });
    return res.status === 200 ? `${up.seen.at(-1)?.headers["x-consumer-username"]}/${up.seen.at(-1)?.headers["x-credential-identifier"]}` : res.status;
  };
  assert.equal(await call(await sign(secretKey, "HS256", { iss: "alice-issuer", sub: "whoever" })), "alice/alice-issuer", "the credential decides, not sub");
  assert.equal(await call(await sign(bobKeys.privateKey, "ES256", { sub: "x" }, { kid: "bob-kid" })), "bob/bob-kid");
  assert.equal(await call(await sign(bobKeys.privateKey, "ES256", { iss: "bob-kid" })), "bob/bob-kid", "by the key claim too");
  assert.equal(await call(await sign(bobKeys.privateKey, "ES256", { iss: "alice-issuer" })), 401, "bob's key cannot sign as alice");
  assert.equal(await call(await sign(secretKey, "HS256", { iss: "carol" })), 401, "no credential");
  assert.equal(logs.lines.at(-1)?.reason, "no credential matches the token's kid or iss claim");
  const other = await sign(new TextEncoder().encode("x".repeat(40)), "HS256", { iss: "alice-issuer" });
  assert.equal(await call(other), 401);
});

interface JwksServer {
  url: string;
  hits: () => number;
  setKeys: (keys: JWK[]) => void;
  fail: (on: boolean) => void;
}

async function startJwks(t: TestContext, keys: JWK[]): Promise<JwksServer> {
  let current = keys;
  let hits = 0;
  let failing = false;
  const server = createServer((_req, res) => {
    hits++;
    if (failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: current }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    hits: () => hits,
    setKeys: (next) => {
      current = next;
    },
    fail: (on) => {
      failing = on;
    },
  };
}

async function jwk(kid: string, alg = "RS256") {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } };
}

test("JWKS: fetched once and cached, refetched on an unknown kid (rotation), at most once per cooldown; an outage is 502", async (t) => {
  const k1 = await jwk("k1");
  const k2 = await jwk("k2", "ES256");
  const jwks = await startJwks(t, [k1.jwk]);
  const { gw, logs } = await gatewayWith(t, { jwksUri: jwks.url, jwksCooldown: "1h" });
  const call = async (token: string) => (await gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } })).status;
  assert.equal(await call(await sign(k1.privateKey, "RS256", {}, { kid: "k1" })), 200);
  assert.equal(await call(await sign(k1.privateKey, "RS256", { sub: "b" }, { kid: "k1" })), 200);
  assert.equal(jwks.hits(), 1, "one fetch, then the cached set");
  // Rotation: k2 appears; the first k2 token triggers a refetch... unless within the cooldown (1h here).
  jwks.setKeys([k1.jwk, k2.jwk]);
  const k2token = await sign(k2.privateKey, "ES256", {}, { kid: "k2" });
  for (let i = 0; i < 5; i++) assert.equal(await call(k2token), 401);
  assert.equal(jwks.hits(), 1, "unknown kids cannot make the gateway hammer the JWKS");
  assert.equal(logs.lines.at(-1)?.reason, "no key of the JWKS matches the token's kid and alg");

  const fresh = await gatewayWith(t, { jwksUri: jwks.url, jwksCooldown: 0 });
  const freshCall = async (token: string) => (await fresh.gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } })).status;
  jwks.setKeys([k1.jwk]);
  assert.equal(await freshCall(await sign(k1.privateKey, "RS256", {}, { kid: "k1" })), 200);
  const before = jwks.hits();
  jwks.setKeys([k2.jwk]);
  assert.equal(await freshCall(k2token), 200, "an unknown kid refetches the set: the rotated key is found");
  assert.equal(jwks.hits(), before + 1);
  assert.equal(await freshCall(await sign(k1.privateKey, "RS256", { sub: "c" }, { kid: "k1" })), 401, "k1 was rotated out");

  const down = await gatewayWith(t, { jwksUri: jwks.url });
  jwks.fail(true);
  const res = await down.gw.inject({ url: "/", headers: { authorization: `Bearer ${k2token}` } });
  assert.equal(res.status, 502);
  assert.equal(down.logs.lines.at(-1)?.code, "PTC_ERR_AUTH_JWKS_UNAVAILABLE");
});

test("verified tokens are cached: a repeated token needs no key lookup; an expiry still ends it", async (t) => {
  const k1 = await jwk("k1");
  const jwks = await startJwks(t, [k1.jwk]);
  // cacheMaxAge 0: jose refetches the set on every verification, so fetches count verifications.
  const { gw } = await gatewayWith(t, { jwksUri: jwks.url, jwksCacheMaxAge: 0, clockSkew: 0 });
  const call = async (token: string) => (await gw.inject({ url: "/", headers: { authorization: `Bearer ${token}` } })).status;
  const token = await sign(k1.privateKey, "RS256", {}, { kid: "k1" });
  assert.equal(await call(token), 200);
  const after = jwks.hits();
  for (let i = 0; i < 10; i++) assert.equal(await call(token), 200);
  assert.equal(jwks.hits(), after, "ten repeats, no verification");
  assert.equal(await call(await sign(k1.privateKey, "RS256", { sub: "other" }, { kid: "k1" })), 200);
  assert.equal(jwks.hits(), after + 1, "a new token is verified");

  // exp is checked on Date.now() (jose, and the cache's own deadline): the test moves that clock past
  // exp instead of sleeping, and a token that must still be valid cannot expire on a slow machine.
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const shortLived = await sign(k1.privateKey, "RS256", { exp: now() + 60 }, { kid: "k1" });
  assert.equal(await call(shortLived), 200);
  t.mock.timers.tick(61_000);
  assert.equal(await call(shortLived), 401, "the cache never outlives exp");
});

test("token from a cookie or a query parameter, removed before proxying", async (t) => {
  const { gw, up } = await gatewayWith(t, { secret: SECRET, cookieNames: ["session_jwt"], uriParamNames: ["jwt"] });
  const token = await sign(secretKey, "HS256");
  assert.equal((await gw.inject({ url: "/", headers: { cookie: `a=1; session_jwt=${token}` } })).status, 200);
  assert.equal(up.seen.at(-1)?.headers.cookie, "a=1");
  assert.equal((await gw.inject({ url: `/p?x=1&jwt=${token}` })).status, 200);
  assert.equal(up.seen.at(-1)?.url, "/p?x=1");
  assert.equal((await gw.inject({ url: "/p?jwt=" })).status, 401);
});

test("path tricks cannot reach a location protected by jwtAuth", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/admin": { proxyPass: up.origin, jwtAuth: { secret: SECRET } }, "/": { proxyPass: up.origin } }));
  for (const trick of ["/%61dmin", "/public/../admin", "//admin", "/admin/./x", "/public/%2e%2e/admin", "/./admin"]) {
    const res = await request(url, { path: trick });
    assert.ok(res.status === 401 || res.status === 400, `${trick}: ${res.status}`);
  }
  assert.equal(up.seen.length, 0);
  const token = await sign(secretKey, "HS256");
  assert.equal((await request(url, { path: "/%61dmin/x", headers: { Authorization: `Bearer ${token}` } })).status, 200);
});

test("a publicKeyFile that is not a key fails the load without quoting it", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-jwt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "key.pem");
  await writeFile(file, "-----BEGIN PUBLIC KEY-----\nc2VjcmV0LWlzaA==\n-----END PUBLIC KEY-----\n");
  await assert.rejects(
    createGateway(singleHost({ "/": { return: "200 ok", jwtAuth: { publicKeyFile: file } } }), { logger: captureLogs().logger }),
    (err: Error) => {
      assert.match(err.message, /not a PEM public key/);
      assert.ok(!err.message.includes("c2VjcmV0"));
      return true;
    },
  );
});
