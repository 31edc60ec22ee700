/**
 * keyAuth: the schema's edge cases, then keys from header, query and cookie over inject() and real
 * sockets: what reaches the upstream (no key, consumer headers, no forged ones), every way to fail,
 * anonymous, keyFile, and path tricks that must not reach a protected location.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import type { PorticoConfig } from "../../../src/config/schema.js";
import { createGateway } from "../../../src/gateway.js";
import { keyAuthSchema } from "../../../src/plugins/key-auth/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

const ALICE_KEY = "alice-key-0123456789";
const BOB_KEY = "bob-key-9876543210";
const consumers = {
  alice: { groups: ["admin", "staff"], customId: "u-1", keyAuth: [{ key: ALICE_KEY }] },
  bob: { keyAuth: [{ key: BOB_KEY }] },
  guest: { groups: ["guests"] },
};

test("schema: Kong's defaults, and the key must be allowed somewhere", () => {
  const parsed = keyAuthSchema.parse({});
  assert.deepEqual(parsed.keyNames, ["apikey"]);
  assert.equal(parsed.keyInHeader, true);
  assert.equal(parsed.keyInQuery, true);
  assert.equal(parsed.keyInCookie, false);
  assert.equal(parsed.hideCredentials, true);
  assert.equal(parsed.realm, "portico");
  assert.equal(parsed.anonymous, undefined);
  assert.deepEqual(parsed.consumerHeaders, {
    username: "X-Consumer-Username",
    customId: "X-Consumer-Custom-ID",
    groups: "X-Consumer-Groups",
    credential: "X-Credential-Identifier",
    anonymous: "X-Anonymous-Consumer",
  });
  assert.equal(keyAuthSchema.safeParse({ keyInHeader: false, keyInQuery: false }).success, false, "nowhere to look: refused");
  assert.equal(keyAuthSchema.safeParse({ keyNames: [] }).success, false);
  assert.equal(keyAuthSchema.safeParse({ keyNames: ["bad name"] }).success, false);
  assert.equal(keyAuthSchema.safeParse({ realm: 'a"b' }).success, false, "a quote would break the challenge");
  assert.equal(keyAuthSchema.safeParse({ consumerHeaders: false }).success, true);
  assert.equal(keyAuthSchema.safeParse({ key_names: ["x"] }).success, false, "unknown fields are refused");
});

test("consumers schema: a key or a keyFile, at least 8 characters; unknown fields refused", async () => {
  const { consumersSchema } = await import("../../../src/consumers/schema.js");
  assert.equal(consumersSchema.safeParse({ a: { keyAuth: [{ key: "short" }] } }).success, false);
  assert.equal(consumersSchema.safeParse({ a: { keyAuth: [{ key: ALICE_KEY, keyFile: "/x" }] } }).success, false, "both: refused");
  assert.equal(consumersSchema.safeParse({ a: { keyAuth: [{}] } }).success, false, "neither: refused");
  assert.equal(consumersSchema.safeParse({ "bad name": {} }).success, false);
  assert.equal(consumersSchema.safeParse({ a: { group: ["x"] } }).success, false);
  assert.deepEqual(consumersSchema.parse({ a: {} }), { a: { groups: [] } });
});

async function keyGateway(t: TestContext, keyAuth: PorticoConfig["keyAuth"], extra: Record<string, unknown> = {}) {
  const up = await startEcho(t);
  const logs = captureLogs();
  const gw = await createGateway(singleHost({ "/api": { proxyPass: up.origin, keyAuth, ...extra }, "/public": { proxyPass: up.origin } }, { consumers }), {
    logger: logs.logger,
  });
  t.after(() => gw.close());
  return { gw, up, logs };
}

test("a key in the header: the consumer goes upstream, the key does not, forged identity headers are dropped", async (t) => {
  const { gw, up } = await keyGateway(t, {});
  const res = await gw.inject({
    url: "/api/x",
    headers: { apikey: ALICE_KEY, "x-consumer-username": "root", "x-consumer-id": "0", "x-anonymous-consumer": "true", "x-credential-identifier": "forged" },
  });
  assert.equal(res.status, 200);
  const seen = up.seen.at(-1);
  assert.ok(seen);
  assert.equal(seen.headers.apikey, undefined, "hideCredentials: the key never reaches the upstream");
  assert.equal(seen.headers["x-consumer-username"], "alice");
  assert.equal(seen.headers["x-consumer-custom-id"], "u-1");
  assert.equal(seen.headers["x-consumer-groups"], "admin, staff");
  assert.equal(seen.headers["x-credential-identifier"], "alice/keyAuth/0");
  assert.equal(seen.headers["x-consumer-id"], undefined, "any X-Consumer-* from the client is dropped");
  assert.equal(seen.headers["x-anonymous-consumer"], undefined);

  await gw.inject({ url: "/api/x", headers: { apikey: BOB_KEY, "x-consumer-groups": "admin" } });
  const bob = up.seen.at(-1);
  assert.equal(bob?.headers["x-consumer-username"], "bob");
  assert.equal(bob?.headers["x-consumer-groups"], undefined, "bob has no groups: a forged header is not kept");
  assert.equal(bob?.headers["x-consumer-custom-id"], undefined);
});

test("a key in the query is removed from the upstream URL, the rest of the query stays as sent", async (t) => {
  const { gw, up } = await keyGateway(t, {});
  const res = await gw.inject({ url: `/api/x?a=1&apikey=${ALICE_KEY}&b=x%20y` });
  assert.equal(res.status, 200);
  const seen = up.seen.at(-1);
  assert.equal(seen?.headers["x-consumer-username"], "alice");
  assert.ok(!seen?.url.includes(ALICE_KEY), seen?.url);
  assert.equal(new URLSearchParams(seen?.query).get("a"), "1");
  assert.equal(new URLSearchParams(seen?.query).get("b"), "x y");
  assert.equal(new URLSearchParams(seen?.query).has("apikey"), false);

  const only = await gw.inject({ url: `/api/y?apikey=${ALICE_KEY}` });
  assert.equal(only.status, 200);
  assert.equal(up.seen.at(-1)?.url, "/api/y", "no dangling ?");
  // A location without keyAuth passes its query untouched, even one with apikey in it.
  await gw.inject({ url: "/public/z?apikey=abc&c=%7E" });
  assert.equal(up.seen.at(-1)?.url, "/public/z?apikey=abc&c=%7E");
});

test("a key in a cookie (keyInCookie), other cookies kept; hideCredentials: false keeps the key", async (t) => {
  const { gw, up } = await keyGateway(t, { keyInCookie: true, keyNames: ["apikey", "x-api-key"] });
  assert.equal((await gw.inject({ url: "/api", headers: { cookie: `theme=dark; apikey=${ALICE_KEY}; lang=en` } })).status, 200);
  assert.equal(up.seen.at(-1)?.headers.cookie, "theme=dark; lang=en");
  assert.equal((await gw.inject({ url: "/api", headers: { cookie: `x-api-key=${BOB_KEY}` } })).status, 200);
  assert.equal(up.seen.at(-1)?.headers.cookie, undefined, "the only cookie: the header goes");
  assert.equal(up.seen.at(-1)?.headers["x-consumer-username"], "bob");
  assert.equal((await gw.inject({ url: "/api", headers: { "x-api-key": BOB_KEY } })).status, 200, "second name, as a header");

  const kept = await keyGateway(t, { hideCredentials: false });
  await kept.gw.inject({ url: "/api", headers: { apikey: ALICE_KEY } });
  assert.equal(kept.up.seen.at(-1)?.headers.apikey, ALICE_KEY);
});

test("every way to fail: 401 JSON with WWW-Authenticate, the reason and request id logged, never the key", async (t) => {
  const { gw, up, logs } = await keyGateway(t, { keyInHeader: true, keyInQuery: false });
  const events: unknown[] = [];
  const onEvent = (message: unknown) => events.push(message);
  subscribe("portico:auth:rejected", onEvent);
  t.after(() => unsubscribe("portico:auth:rejected", onEvent));
  const cases: Array<[string, Record<string, string>, string]> = [
    ["/api", {}, "no API key in the request"],
    ["/api", { apikey: "" }, "no API key in the request"],
    ["/api", { apikey: "wrong-key-1234567" }, "unknown API key (from the header)"],
    ["/api", { apikey: `${ALICE_KEY} ` }, "unknown API key (from the header)"],
    ["/api", { apikey: ALICE_KEY.toUpperCase() }, "unknown API key (from the header)"],
    [`/api?apikey=${ALICE_KEY}`, {}, "no API key in the request"],
  ];
  for (const [url, headers, reason] of cases) {
    const res = await gw.inject({ url, headers });
    assert.equal(res.status, 401, `${url} ${JSON.stringify(headers)}`);
    assert.equal(res.headers["www-authenticate"], 'Key realm="portico"');
    const body = res.json<{ message: string; requestId: string }>();
    assert.equal(body.message, "Unauthorized");
    const line = logs.lines.findLast((entry) => entry.requestId === body.requestId);
    assert.equal(line?.reason, reason);
    assert.equal(line?.code, reason.startsWith("no") ? "PTC_ERR_AUTH_MISSING" : "PTC_ERR_AUTH_INVALID");
  }
  assert.equal(up.seen.length, 0, "refused requests never reach the upstream");
  assert.equal(events.length, cases.length);
  assert.deepEqual(events[0], { plugin: "keyAuth", reason: "no API key in the request", location: "/api" });
  const all = JSON.stringify(logs.lines);
  assert.ok(!all.includes("wrong-key-1234567") && !all.includes(ALICE_KEY), "keys are never logged");
});

test("anonymous: a request without a valid key goes through as that consumer, marked anonymous", async (t) => {
  const { gw, up } = await keyGateway(t, { anonymous: "guest" });
  assert.equal((await gw.inject({ url: "/api", headers: { "x-consumer-username": "alice" } })).status, 200);
  let seen = up.seen.at(-1);
  assert.equal(seen?.headers["x-consumer-username"], "guest");
  assert.equal(seen?.headers["x-consumer-groups"], "guests");
  assert.equal(seen?.headers["x-anonymous-consumer"], "true");
  assert.equal((await gw.inject({ url: "/api", headers: { apikey: "not-a-key-at-all" } })).status, 200);
  assert.equal(up.seen.at(-1)?.headers["x-consumer-username"], "guest");
  await gw.inject({ url: "/api", headers: { apikey: ALICE_KEY, "x-anonymous-consumer": "true" } });
  seen = up.seen.at(-1);
  assert.equal(seen?.headers["x-consumer-username"], "alice");
  assert.equal(seen?.headers["x-anonymous-consumer"], undefined);

  await assert.rejects(
    createGateway(singleHost({ "/": { return: "200 ok", keyAuth: { anonymous: "nobody" } } }, { consumers }), { logger: captureLogs().logger }),
    /anonymous: no consumer is named "nobody"/,
  );
});

test("consumerHeaders: renamed, or none at all; ctx.consumer is set for later hooks", async (t) => {
  const { gw, up } = await keyGateway(
    t,
    { consumerHeaders: { username: "X-User", groups: "X-Groups" } },
    {
      access: (ctx: { consumer: { name: string } | null; request: { headers: Record<string, string> } }) => {
        ctx.request.headers["x-seen-by-hook"] = ctx.consumer?.name ?? "none";
      },
    },
  );
  await gw.inject({ url: "/api", headers: { apikey: ALICE_KEY, "x-user": "forged" } });
  const seen = up.seen.at(-1);
  assert.equal(seen?.headers["x-user"], "alice");
  assert.equal(seen?.headers["x-groups"], "admin, staff");
  assert.equal(seen?.headers["x-consumer-username"], undefined);
  assert.equal(seen?.headers["x-seen-by-hook"], "alice");

  const none = await keyGateway(t, { consumerHeaders: false });
  await none.gw.inject({ url: "/api", headers: { apikey: ALICE_KEY, "x-consumer-username": "root" } });
  assert.equal(none.up.seen.at(-1)?.headers["x-consumer-username"], undefined, "forged ones are still removed");
});

test("keyFile: read relative to the config at load; a missing file or a duplicate key is a config error", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-keyauth-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "carol.key");
  await writeFile(file, "carol-key-from-a-file\n");
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, keyAuth: {} } }, { consumers: { carol: { keyAuth: [{ keyFile: file }] } } }));
  assert.equal((await request(`${url}/`, { headers: { apikey: "carol-key-from-a-file" } })).status, 200);
  assert.equal(up.seen.at(-1)?.headers["x-consumer-username"], "carol");

  await assert.rejects(
    createGateway(singleHost({ "/": { return: "200 ok", keyAuth: {} } }, { consumers: { carol: { keyAuth: [{ keyFile: path.join(dir, "nope") }] } } }), {
      logger: captureLogs().logger,
    }),
    /cannot read .*nope: ENOENT/,
  );
  await assert.rejects(
    createGateway(
      singleHost({ "/": { return: "200 ok", keyAuth: {} } }, { consumers: { a: { keyAuth: [{ key: ALICE_KEY }] }, b: { keyAuth: [{ key: ALICE_KEY }] } } }),
      {
        logger: captureLogs().logger,
      },
    ),
    (err: Error) => /the same API key is also given to consumer a/.test(err.message) && !err.message.includes(ALICE_KEY),
  );
});

const TRICKS = ["/%61dmin", "/public/../admin", "//admin", "/admin/./x", "/public/%2e%2e/admin", "/./admin", "/ADMIN/../admin"];

test("path tricks cannot reach a location protected by keyAuth", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost(
      { "/admin": { proxyPass: up.origin, keyAuth: {} }, "~ ^/secret": { proxyPass: up.origin, keyAuth: {} }, "/": { proxyPass: up.origin } },
      { consumers },
    ),
  );
  for (const trick of [...TRICKS, ...TRICKS.map((p) => p.replace(/admin/g, "secret"))]) {
    const res = await request(url, { path: trick });
    assert.ok(res.status === 401 || res.status === 400, `${trick}: ${res.status}`);
  }
  assert.equal(up.seen.length, 0);
  assert.equal((await request(url, { path: "/%61dmin", headers: { apikey: ALICE_KEY } })).status, 200);
});
