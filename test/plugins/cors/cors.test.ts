/**
 * cors: the schema's edge cases, then preflights answered at the gateway, headers on actual
 * responses by origin kind (exact, "*", wildcard, regex), credentials, Vary, preflightContinue.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createGateway } from "../../../src/gateway.js";
import { corsSchema } from "../../../src/plugins/cors/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";

test("schema: Kong-like defaults and refused values", () => {
  assert.deepEqual(corsSchema.parse({}), {
    origins: ["*"],
    methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"],
    exposeHeaders: [],
    credentials: false,
    preflightContinue: false,
  });
  for (const good of [
    "https://app.example.com",
    "http://localhost:3000",
    "https://*.example.com",
    "~ ^https://a[0-9]+\\.example\\.com$",
    "~* ^HTTPS://",
    "null",
    "*",
  ]) {
    assert.equal(corsSchema.safeParse({ origins: [good] }).success, true, good);
  }
  for (const bad of ["example.com", "https://example.com/path", "~ (unclosed", "", "https://"]) {
    assert.equal(corsSchema.safeParse({ origins: [bad] }).success, false, JSON.stringify(bad));
  }
  assert.equal(corsSchema.safeParse({ origins: [] }).success, false);
  assert.equal(corsSchema.safeParse({ methods: ["GET POST"] }).success, false);
  assert.equal(corsSchema.safeParse({ maxAge: -1 }).success, false);
  assert.equal(corsSchema.safeParse({ maxAge: 1.5 }).success, false);
  assert.equal(corsSchema.safeParse({ allowOrigins: ["*"] }).success, false, "unknown fields are refused");
});

const preflight = (origin: string, extra: Record<string, string> = {}) => ({
  method: "OPTIONS",
  headers: { origin, "access-control-request-method": "PUT", ...extra },
});

test("preflight: answered 204 at the gateway, before an access hook that would refuse it", async (t) => {
  const up = await startEcho(t);
  const gw = await createGateway(
    singleHost({
      "/": {
        proxyPass: up.origin,
        // An auth check that a preflight (sent without credentials) must not meet.
        access: "if (!ctx.request.headers.authorization) return ctx.exit(401)",
        cors: { origins: ["https://app.example.com"], headers: ["Authorization", "Content-Type"], maxAge: 600, credentials: true },
      },
    }),
  );
  t.after(() => gw.close());
  const res = await gw.inject({ url: "/x", ...preflight("https://app.example.com", { "access-control-request-headers": "authorization" }) });
  assert.equal(res.status, 204);
  assert.equal(res.body, "");
  assert.equal(res.headers["access-control-allow-origin"], "https://app.example.com");
  assert.equal(res.headers["access-control-allow-credentials"], "true");
  assert.equal(res.headers["access-control-allow-methods"], "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS");
  assert.equal(res.headers["access-control-allow-headers"], "Authorization, Content-Type");
  assert.equal(res.headers["access-control-max-age"], "600");
  assert.match(String(res.headers.vary), /Origin/);
  assert.equal(up.seen.length, 0, "the upstream never sees a preflight");

  const stranger = await gw.inject({ url: "/x", ...preflight("https://evil.example") });
  assert.equal(stranger.status, 204);
  assert.equal(stranger.headers["access-control-allow-origin"], undefined, "no CORS headers: the browser blocks");
  assert.equal(stranger.headers["access-control-allow-methods"], undefined);

  const plainOptions = await gw.inject({ url: "/x", method: "OPTIONS", headers: { origin: "https://app.example.com" } });
  assert.equal(plainOptions.status, 401, "OPTIONS without Access-Control-Request-Method is no preflight");
});

test("actual responses: exact, wildcard and regex origins get headers; others get none but are proxied", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": {
        proxyPass: up.origin,
        cors: {
          origins: ["https://app.example.com", "https://*.example.org", "~ ^http://localhost:[0-9]+$"],
          exposeHeaders: ["X-Total", "ETag"],
        },
      },
    }),
  );
  const cases: Array<[string, boolean]> = [
    ["https://app.example.com", true],
    ["HTTPS://APP.EXAMPLE.COM", true],
    ["https://a.example.org", true],
    ["https://a.b.example.org", true],
    ["https://example.org", false],
    ["https://evil.com/.example.org", false],
    ["https://a.example.org.evil.com", false],
    ["https://a.example.org:8443", false],
    ["http://localhost:3000", true],
    ["http://localhost:3000.evil.com", false],
    ["https://app.example.com.evil.com", false],
    ["null", false],
  ];
  for (const [origin, ok] of cases) {
    const res = await request(`${url}/anything`, { headers: { Origin: origin } });
    assert.equal(res.status, 200, origin);
    assert.equal(res.headers["access-control-allow-origin"], ok ? origin : undefined, origin);
    assert.equal(res.headers["access-control-expose-headers"], ok ? "X-Total, ETag" : undefined, origin);
    assert.equal(res.headers["access-control-allow-credentials"], undefined);
    assert.match(String(res.headers.vary), /Origin/, `${origin}: Vary: Origin either way`);
  }
  assert.equal(up.seen.length, cases.length, "every request went through");
  const noOrigin = await request(`${url}/anything`);
  assert.equal(noOrigin.headers["access-control-allow-origin"], undefined);
});

test('origins "*": "*" without credentials; the origin echoed (never "*") with credentials', async (t) => {
  const gw = await createGateway(
    singleHost({
      "/any": { return: "200 'ok'", cors: {} },
      "/creds": { return: "200 'ok'", cors: { credentials: true } },
      "/vary": { content: "return new Response('x', { headers: { vary: 'Accept' } })", cors: { origins: ["https://a.test"] } },
    }),
  );
  t.after(() => gw.close());
  const any = await gw.inject({ url: "/any", headers: { origin: "https://x.test" } });
  assert.equal(any.headers["access-control-allow-origin"], "*");
  assert.equal(any.headers.vary, undefined, 'one answer for all: no Vary needed with a literal "*"');
  const creds = await gw.inject({ url: "/creds", headers: { origin: "https://x.test" } });
  assert.equal(creds.headers["access-control-allow-origin"], "https://x.test");
  assert.equal(creds.headers["access-control-allow-credentials"], "true");
  assert.equal(creds.headers.vary, "Origin");
  const credsPreflight = await gw.inject({ url: "/creds", ...preflight("https://x.test", { "access-control-request-headers": "x-one, x-two" }) });
  assert.equal(credsPreflight.headers["access-control-allow-origin"], "https://x.test");
  assert.equal(credsPreflight.headers["access-control-allow-headers"], "x-one, x-two", "default: the requested headers echoed");
  assert.equal(credsPreflight.headers["access-control-max-age"], undefined);
  const vary = await gw.inject({ url: "/vary", headers: { origin: "https://a.test" } });
  assert.equal(vary.headers.vary, "Accept, Origin", "added to the upstream's Vary");
});

test("preflightContinue: the preflight goes to the upstream, and the answer still gets CORS headers", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, cors: { origins: ["https://a.test"], preflightContinue: true } } }));
  const res = await request(`${url}/anything`, { method: "OPTIONS", headers: { Origin: "https://a.test", "Access-Control-Request-Method": "PUT" } });
  assert.equal(res.status, 200);
  assert.equal(up.seen.at(-1)?.method, "OPTIONS");
  assert.equal(res.headers["access-control-allow-origin"], "https://a.test");
});
