/**
 * openidConnect as a resource server, against a real oidc-provider: bearer JWTs verified with the
 * provider's JWKS (and every way for one to fail), opaque tokens by introspection with a cache,
 * JWKS rotation, forged identity headers, and protected paths under path tricks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url, generateKeyPair, SignJWT } from "jose";
import { API_RESOURCE, startOidcProvider } from "../../fixtures/oidc-provider.js";
import { errorBody, request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";
import { setup } from "./setup.js";

const bearer = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });

test("a real JWT access token from the provider is accepted; upstream sees the subject, forged identity headers are gone", async (t) => {
  const s = await setup(t, { bearerOnly: true, audience: API_RESOURCE, setClaimHeaders: { "X-Client": "client_id" } });
  const token = await s.op.clientCredentialsToken(API_RESOURCE);
  const res = await request(`${s.gw.url}/orders`, bearer(token, { "x-consumer-username": "admin", "x-consumer-id": "1", "x-client": "forged" }));
  assert.equal(res.status, 200, res.text);
  const seen = s.last().headers;
  assert.equal(seen["x-consumer-username"], s.op.clientId);
  assert.equal(seen["x-consumer-id"], undefined);
  assert.equal(seen["x-client"], s.op.clientId);
  assert.equal(seen.authorization, `Bearer ${token}`, "the token itself goes upstream");
});

test("ctx.jwt and ctx.consumer are set for the location's own hooks", async (t) => {
  const op = await startOidcProvider(t);
  const echo = await startEcho(t);
  const gw = await startGateway(
    t,
    singleHost({
      "/": {
        proxyPass: echo.origin,
        openidConnect: { issuer: op.issuer, clientId: "portico", bearerOnly: true },
        access: "ctx.request.headers['x-seen'] = [ctx.consumer.name, ctx.jwt.email, ctx.jwt.aud].join('|')",
      },
    }),
  );
  const token = await op.signJwt({ sub: "alice", aud: "portico", email: "alice@example.test" });
  const res = await request(`${gw.url}/`, bearer(token));
  assert.equal(res.status, 200, res.text);
  assert.equal(echo.seen.at(-1)?.headers["x-seen"], "alice|alice@example.test|portico");
});

test("every way for a bearer JWT to fail gets a generic 401; the log says why; the upstream sees nothing", async (t) => {
  const { logger, lines } = captureLogs();
  const s = await setup(t, { bearerOnly: true, audience: "portico-api" }, { gateway: { logger } });
  const now = Math.floor(Date.now() / 1000);
  const good = await s.op.signJwt({ sub: "alice", aud: "portico-api" });
  assert.equal((await request(`${s.gw.url}/x`, bearer(good))).status, 200);
  const seenBefore = s.echo.seen.length;

  const { privateKey: otherKey } = await generateKeyPair("RS256");
  const [header, payload] = good.split(".") as [string, string, string];
  const none = `${base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${payload}.`;
  const noneWithKid = `${base64url.encode(JSON.stringify({ alg: "none", kid: s.op.kid }))}.${payload}.`;
  const tamperedPayload = `${header}.${base64url.encode(JSON.stringify({ sub: "admin", aud: "portico-api", iss: s.op.issuer, exp: now + 300 }))}.${good.split(".")[2]}`;
  // HS256 with the provider's public key as the HMAC secret: the classic key-confusion attack.
  const publicJwk = (await (await fetch(`${s.op.issuer}/jwks`)).json()) as { keys: Array<{ n: string }> };
  const hmac = await new SignJWT({ sub: "alice", aud: "portico-api", iss: s.op.issuer })
    .setProtectedHeader({ alg: "HS256", kid: s.op.kid })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(publicJwk.keys[0]?.n));
  const cases: Record<string, string> = {
    expired: await s.op.signJwt({ sub: "alice", aud: "portico-api", iat: now - 7200 }, { exp: now - 3600 }),
    "not yet valid": await s.op.signJwt({ sub: "alice", aud: "portico-api", nbf: now + 3600 }),
    "wrong audience": await s.op.signJwt({ sub: "alice", aud: "someone-else" }),
    "no audience": await s.op.signJwt({ sub: "alice" }),
    "wrong issuer": await s.op.signJwt({ sub: "alice", aud: "portico-api", iss: "http://127.0.0.1:1" }),
    "wrong signature (same kid, other key)": await new SignJWT({ sub: "alice", aud: "portico-api", iss: s.op.issuer })
      .setProtectedHeader({ alg: "RS256", kid: s.op.kid })
      .setExpirationTime("5m")
      .sign(otherKey),
    "unknown kid": await new SignJWT({ sub: "alice", aud: "portico-api", iss: s.op.issuer })
      .setProtectedHeader({ alg: "RS256", kid: "not-a-key" })
      .setExpirationTime("5m")
      .sign(otherKey),
    "alg none": none,
    "alg none with the provider's kid": noneWithKid,
    "alg HS256 with the public key": hmac,
    "payload swapped under a valid signature": tamperedPayload,
    malformed: "abc.def.ghi",
    garbage: "%%%not-a-token",
    "ID-token-like but truncated": good.slice(0, -10),
  };
  for (const [name, token] of Object.entries(cases)) {
    const res = await request(`${s.gw.url}/x`, bearer(token));
    assert.equal(res.status, 401, name);
    assert.deepEqual(Object.keys(errorBody(res)).sort(), ["message", "requestId"], name);
    assert.equal(errorBody(res).message, "Unauthorized", name);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer realm="portico", error="invalid_token"$/, name);
    assert.ok(!res.text.includes(token.slice(0, 20)), `${name}: the token is not echoed`);
  }
  const missing: Array<Record<string, string>> = [{}, { authorization: "Bearer " }, { authorization: "Basic YWxpY2U6c2VjcmV0" }, { authorization: "Bearer" }];
  for (const headers of missing) {
    const res = await request(`${s.gw.url}/x`, { headers: { ...headers, accept: "text/html" } });
    assert.equal(res.status, 401, JSON.stringify(headers));
  }
  assert.equal(s.echo.seen.length, seenBefore, "the upstream saw none of them");
  const reasons = lines.filter((line) => line.code === "PTC_ERR_AUTH_OIDC_TOKEN_INVALID").map((line) => String(line.reason));
  assert.ok(
    reasons.some((r) => /ERR_JWT_EXPIRED/.test(r)),
    reasons.join("\n"),
  );
  assert.ok(reasons.some((r) => /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/.test(r)));
  assert.ok(reasons.some((r) => /aud/.test(r)));
  assert.ok(!JSON.stringify(lines).includes(good), "tokens are not logged");
});

test("opaque tokens: introspection, cached; an inactive token is refused; introspection off refuses them", async (t) => {
  const s = await setup(t, { bearerOnly: true, introspection: true, introspectionCacheTtl: "1m" });
  const token = await s.op.clientCredentialsToken();
  assert.equal(token.split(".").length, 1, "an opaque token");
  for (let i = 0; i < 3; i++) assert.equal((await request(`${s.gw.url}/x`, bearer(token))).status, 200);
  assert.equal(s.op.hits.get("/token/introspection"), 1, "one introspection for three requests");
  assert.equal(s.last().headers["x-consumer-username"], s.op.clientId);
  assert.equal((await request(`${s.gw.url}/x`, bearer("made-up-opaque-token-123456"))).status, 401);
  assert.equal((await request(`${s.gw.url}/x`, bearer("made-up-opaque-token-123456"))).status, 401);
  assert.equal(s.op.hits.get("/token/introspection"), 2, "the inactive answer is cached too");

  const off = await setup(t, { bearerOnly: true });
  assert.equal((await request(`${off.gw.url}/x`, bearer(await off.op.clientCredentialsToken()))).status, 401);
});

test("JWKS rotation: the provider rotates its key, Portico follows; tokens of the retired key are refused", async (t) => {
  const s = await setup(t, { bearerOnly: true, jwksRefreshCooldown: 0 });
  const before = await s.op.signJwt({ sub: "alice", aud: "portico" });
  assert.equal((await request(`${s.gw.url}/x`, bearer(before))).status, 200);
  const oldKid = s.op.kid;
  await s.op.rotateKeys();
  assert.notEqual(s.op.kid, oldKid);
  const after = await s.op.signJwt({ sub: "bob", aud: "portico" });
  const res = await request(`${s.gw.url}/x`, bearer(after));
  assert.equal(res.status, 200, res.text);
  assert.equal(s.last().headers["x-consumer-username"], "bob");
  // A real access token of the new key, too.
  assert.equal((await request(`${s.gw.url}/x`, bearer(await s.op.clientCredentialsToken(API_RESOURCE)))).status, 401, "wrong audience still");
  // The old key is gone from the JWKS once refetched: its tokens no longer verify.
  const stale = await request(`${s.gw.url}/x`, bearer(before));
  assert.equal(stale.status, 401);
});

test("a protected location stays protected under path tricks", async (t) => {
  const op = await startOidcProvider(t);
  const echo = await startEcho(t);
  const gw = await startGateway(
    t,
    singleHost({
      "/": { proxyPass: echo.origin },
      "/admin": { proxyPass: echo.origin, openidConnect: { issuer: op.issuer, clientId: "portico", bearerOnly: true } },
    }),
  );
  assert.equal((await request(`${gw.url}/public`)).status, 200);
  const seen = echo.seen.length;
  for (const path of [
    "/admin",
    "/%61dmin",
    "/%61%64%6d%69%6e/x",
    "/public/../admin",
    "/public/%2e%2e/admin",
    "//admin",
    "/./admin/",
    "/admin;x",
    "/admin%2f..%2fadmin",
  ]) {
    const res = await request(`${gw.url}/`, { path });
    assert.ok(res.status === 401 || res.status === 400, `${path}: ${res.status}`);
  }
  assert.equal(echo.seen.length, seen, "none reached the upstream");
  const ok = await request(`${gw.url}/`, { path: "/%61dmin", ...bearer(await op.signJwt({ sub: "alice", aud: "portico" })) });
  assert.equal(ok.status, 200);
});

test("bearerOnly: a browser without a token gets 401, never a redirect", async (t) => {
  const s = await setup(t, { bearerOnly: true });
  const res = await request(`${s.gw.url}/page`, { headers: { accept: "text/html" } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.location, undefined);
});
