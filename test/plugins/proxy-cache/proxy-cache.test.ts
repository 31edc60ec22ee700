/**
 * proxyCache: the schema's edge cases, then RFC 9111 behaviour over real sockets against a
 * purpose-built upstream (each path answers as the test says and counts its requests), run once
 * with the memory store and once with a real Redis.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import type { PorticoConfig } from "../../../src/config/schema.js";
import { proxyCacheSchema } from "../../../src/plugins/proxy-cache/schema.js";
import { closedPort, request, singleHost, startGateway } from "../../helpers/gateway.js";
import { startRedis } from "../../helpers/redis.js";
import { waitFor } from "../../helpers/wait.js";

test("schema: nginx-like defaults and refused values", () => {
  const conf = proxyCacheSchema.parse({});
  assert.equal(conf.store, "memory");
  assert.equal(conf.zone, "default");
  assert.equal(conf.maxSize, "64m");
  assert.equal(conf.maxBodySize, "1m");
  assert.deepEqual(conf.methods, ["GET", "HEAD"]);
  assert.deepEqual(conf.key, { method: true, host: true, path: true, query: true, headers: [], consumer: false });
  assert.deepEqual(conf.bypass, { headers: [], cookies: [], query: [] });
  assert.equal(conf.lock, true);
  assert.equal(conf.lockTimeout, "5s");
  assert.equal(conf.cacheStatusHeader, "X-Cache-Status");
  assert.equal(proxyCacheSchema.parse({ cacheStatusHeader: false }).cacheStatusHeader, false);
  for (const bad of [
    { store: "disk" },
    { maxSize: "64 megabytes" },
    { maxBodySize: -1 },
    { methods: ["POST"] },
    { methods: [] },
    { key: { headers: ["bad header"] } },
    { key: { url: true } },
    { bypass: { headers: [""] } },
    { zone: "a b" },
    { lockTimeout: "soon" },
    { cacheStatusHeader: "X Cache" },
    { ttl: 5 },
  ]) {
    assert.equal(proxyCacheSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

type Handler = (req: IncomingMessage, res: ServerResponse, hit: number) => void;

interface Origin {
  url: string;
  hits: Map<string, number>;
  seen: Map<string, IncomingMessage["headers"][]>;
  route(path: string, handler: Handler): void;
}

async function startOrigin(t: TestContext): Promise<Origin> {
  const routes = new Map<string, Handler>();
  const hits = new Map<string, number>();
  const seen = new Map<string, IncomingMessage["headers"][]>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    seen.set(path, [...(seen.get(path) ?? []), req.headers]);
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404).end();
      return;
    }
    handler(req, res, n);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, seen, route: (path, handler) => routes.set(path, handler) };
}

/**
 * Freshness is decided on Date.now() (http-cache-semantics): a test that needs an answer to age
 * moves that clock instead of sleeping past max-age. Timers stay real, and so does the stores' own
 * expiry of an entry (lru-cache, Redis PX, set to its freshness plus stale-* windows): either
 * way the answer is the stale entry's, or a miss once a store dropped it.
 */
function movableClock(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  return (ms) => t.mock.timers.tick(ms);
}

for (const store of ["memory", "redis"] as const) {
  const setup = async (t: TestContext, cache: Record<string, unknown> = {}, extra: Partial<PorticoConfig> = {}) => {
    const origin = await startOrigin(t);
    const top: Partial<PorticoConfig> = { ...extra };
    if (store === "redis") top.redis = { url: (await startRedis(t)).url };
    const { url, gw } = await startGateway(
      t,
      singleHost({ "/": { proxyPass: origin.url, proxyCache: { store, ...cache } } }, top as Omit<PorticoConfig, "virtualHosts">),
    );
    const get = (path: string, headers: Record<string, string> = {}, method = "GET") => request(`${url}${path}`, { headers, method });
    return { origin, url, gw, get };
  };
  const status = (res: { headers: Record<string, unknown> }) => res.headers["x-cache-status"];

  test(`${store}: MISS then HIT; Age grows; the body and headers are the upstream's`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/a", (_req, res, n) =>
      res.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain", "x-n": String(n) }).end(`body ${n}`),
    );
    const first = await get("/a");
    assert.equal(first.status, 200);
    assert.equal(status(first), "MISS");
    assert.equal(first.text, "body 1");
    const second = await get("/a");
    assert.equal(status(second), "HIT");
    assert.equal(second.text, "body 1");
    assert.equal(second.headers["x-n"], "1");
    assert.equal(second.headers["content-type"], "text/plain");
    assert.equal(second.headers["content-length"], "6");
    assert.match(String(second.headers.age), /^\d+$/);
    assert.equal(origin.hits.get("/a"), 1);
    // The query is part of the key.
    assert.equal(status(await get("/a?x=1")), "MISS");
    assert.equal(origin.hits.get("/a"), 2);
  });

  test(`${store}: HEAD is answered from the GET entry; a HEAD miss stores the GET`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/h", (req, res) => {
      assert.equal(req.method, "GET");
      res.writeHead(200, { "cache-control": "max-age=60" }).end("hello");
    });
    const head = await get("/h", {}, "HEAD");
    assert.equal(status(head), "MISS");
    assert.equal(head.text, "");
    const got = await get("/h");
    assert.equal(status(got), "HIT");
    assert.equal(got.text, "hello");
    const head2 = await get("/h", {}, "HEAD");
    assert.equal(status(head2), "HIT");
    assert.equal(head2.headers["content-length"], "5");
    assert.equal(origin.hits.get("/h"), 1);
  });

  test(`${store}: not stored: no-store, private, Set-Cookie, a request with Authorization; POST is not cached and invalidates`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/no-store", (_req, res) => res.writeHead(200, { "cache-control": "no-store" }).end("x"));
    origin.route("/private", (_req, res) => res.writeHead(200, { "cache-control": "private, max-age=60" }).end("x"));
    origin.route("/cookie", (_req, res) => res.writeHead(200, { "cache-control": "max-age=60", "set-cookie": "sid=1" }).end("x"));
    origin.route("/auth", (_req, res) => res.writeHead(200, { "cache-control": "max-age=60" }).end("x"));
    origin.route("/public-auth", (_req, res) => res.writeHead(200, { "cache-control": "public, max-age=60" }).end("x"));
    for (const path of ["/no-store", "/private", "/cookie"]) {
      assert.equal(status(await get(path)), "MISS", path);
      assert.equal(status(await get(path)), "MISS", path);
      assert.equal(origin.hits.get(path), 2, path);
    }
    assert.equal(status(await get("/auth", { authorization: "Bearer a" })), "MISS");
    assert.equal(status(await get("/auth", { authorization: "Bearer a" })), "MISS");
    assert.equal(origin.hits.get("/auth"), 2);
    // RFC 9111 3.5: "public" allows a shared cache to store an authenticated response.
    await get("/public-auth", { authorization: "Bearer a" });
    assert.equal(status(await get("/public-auth")), "HIT");
    // A request's own no-store.
    origin.route("/req-no-store", (_req, res) => res.writeHead(200, { "cache-control": "max-age=60" }).end("x"));
    await get("/req-no-store", { "cache-control": "no-store" });
    assert.equal(status(await get("/req-no-store")), "MISS");

    origin.route("/item", (req, res) => res.writeHead(200, { "cache-control": "max-age=60" }).end(req.method));
    assert.equal(status(await get("/item")), "MISS");
    assert.equal(status(await get("/item")), "HIT");
    const post = await get("/item", { "content-type": "text/plain" }, "POST");
    assert.equal(post.text, "POST");
    assert.equal(status(post), undefined, "no cache status for a method the cache does not handle");
    assert.equal(status(await get("/item")), "MISS", "RFC 9111 4.4: the POST invalidated the entry");
  });

  test(`${store}: EXPIRED → conditional request (If-None-Match / If-Modified-Since) → 304 → REVALIDATED; a changed answer is stored anew`, async (t) => {
    const { origin, get } = await setup(t);
    let version = "v1";
    origin.route("/etag", (req, res) => {
      const etag = `"${version}"`;
      if (req.headers["if-none-match"] === etag) return void res.writeHead(304, { etag, "cache-control": "max-age=0" }).end();
      res.writeHead(200, { etag, "cache-control": "max-age=0" }).end(`content ${version}`);
    });
    const lastModified = new Date(Date.now() - 3600_000).toUTCString();
    origin.route("/lm", (req, res) => {
      if (req.headers["if-modified-since"] === lastModified) return void res.writeHead(304, { "cache-control": "no-cache" }).end();
      res.writeHead(200, { "last-modified": lastModified, "cache-control": "no-cache" }).end("lm body");
    });
    assert.equal(status(await get("/etag")), "MISS");
    const again = await get("/etag");
    assert.equal(status(again), "REVALIDATED");
    assert.equal(again.text, "content v1");
    assert.equal(origin.seen.get("/etag")?.[1]?.["if-none-match"], '"v1"');
    version = "v2";
    const changed = await get("/etag");
    assert.equal(status(changed), "EXPIRED");
    assert.equal(changed.text, "content v2");
    const after = await get("/etag");
    assert.equal(status(after), "REVALIDATED");
    assert.equal(after.text, "content v2");

    assert.equal(status(await get("/lm")), "MISS");
    const lm = await get("/lm");
    assert.equal(status(lm), "REVALIDATED");
    assert.equal(lm.text, "lm body");
    assert.equal(origin.seen.get("/lm")?.[1]?.["if-modified-since"], lastModified);
  });

  test(`${store}: max-age expiry, s-maxage over max-age, Expires, a request's no-cache`, async (t) => {
    const age = movableClock(t);
    const { origin, get } = await setup(t);
    origin.route("/short", (_req, res, n) => res.writeHead(200, { "cache-control": "max-age=1" }).end(`n${n}`));
    origin.route("/smax", (_req, res) => res.writeHead(200, { "cache-control": "max-age=0, s-maxage=60" }).end("s"));
    origin.route("/expires", (_req, res) => res.writeHead(200, { expires: new Date(Date.now() + 60_000).toUTCString() }).end("e"));
    origin.route("/expired", (_req, res) => res.writeHead(200, { expires: new Date(Date.now() - 60_000).toUTCString() }).end("e"));
    assert.equal(status(await get("/short")), "MISS");
    assert.equal(status(await get("/short")), "HIT");
    age(1100);
    const later = await get("/short");
    assert.notEqual(status(later), "HIT");
    assert.equal(later.text, "n2");
    await get("/smax");
    assert.equal(status(await get("/smax")), "HIT", "a shared cache obeys s-maxage");
    await get("/expires");
    assert.equal(status(await get("/expires")), "HIT");
    await get("/expired");
    assert.equal(status(await get("/expired")), "MISS");
    const noCache = await get("/smax", { "cache-control": "no-cache" });
    assert.notEqual(status(noCache), "HIT", "the client asked for a fresh answer");
    assert.equal(origin.hits.get("/smax"), 2);
  });

  test(`${store}: Vary keeps one variant per value of the named header`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/v", (req, res) => res.writeHead(200, { "cache-control": "max-age=60", vary: "Accept-Encoding, X-Lang" }).end(`${req.headers["x-lang"]}`));
    assert.equal((await get("/v", { "x-lang": "en" })).text, "en");
    assert.equal((await get("/v", { "x-lang": "fr" })).text, "fr");
    const en = await get("/v", { "x-lang": "en" });
    assert.equal(status(en), "HIT");
    assert.equal(en.text, "en");
    const fr = await get("/v", { "x-lang": "fr" });
    assert.equal(status(fr), "HIT");
    assert.equal(fr.text, "fr");
    assert.equal(status(await get("/v", { "x-lang": "fr", "accept-encoding": "gzip" })), "MISS");
    assert.equal(origin.hits.get("/v"), 3);
  });

  test(`${store}: stale-while-revalidate serves STALE and refreshes in the background`, async (t) => {
    const age = movableClock(t);
    const { origin, get } = await setup(t);
    origin.route("/swr", (_req, res, n) => res.writeHead(200, { "cache-control": "max-age=1, stale-while-revalidate=60" }).end(`n${n}`));
    await get("/swr");
    age(1100);
    const stale = await get("/swr");
    assert.equal(status(stale), "STALE");
    assert.equal(stale.text, "n1");
    await waitFor("the background refresh", () => (origin.hits.get("/swr") === 2 ? true : undefined));
    // The refresh is stored right after the upstream answers.
    const fresh = await waitFor("the refreshed entry", async () => {
      const answer = await get("/swr");
      return answer.text === "n2" ? answer : undefined;
    });
    assert.equal(status(fresh), "HIT");
    assert.equal(fresh.text, "n2");
  });

  test(`${store}: stale-if-error serves STALE when the upstream fails or answers 5xx; without it, the error`, async (t) => {
    const age = movableClock(t);
    const { origin, get } = await setup(t);
    let broken = false;
    origin.route("/sie", (_req, res) => {
      if (broken) return void res.writeHead(503).end("down");
      res.writeHead(200, { "cache-control": "max-age=1, stale-if-error=60" }).end("good");
    });
    origin.route("/plain", (_req, res) => {
      if (broken) return void res.writeHead(503).end("down");
      res.writeHead(200, { "cache-control": "max-age=1" }).end("good");
    });
    await get("/sie");
    await get("/plain");
    age(1100);
    broken = true;
    const stale = await get("/sie");
    assert.equal(stale.status, 200);
    assert.equal(status(stale), "STALE");
    assert.equal(stale.text, "good");
    const plain = await get("/plain");
    assert.equal(plain.status, 503);
    assert.equal(plain.text, "down");
  });

  test(`${store}: thundering herd: 50 concurrent misses make one upstream request`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/herd", (_req, res) => {
      setTimeout(() => res.writeHead(200, { "cache-control": "max-age=60" }).end("once"), 200);
    });
    const answers = await Promise.all(Array.from({ length: 50 }, () => get("/herd")));
    assert.equal(origin.hits.get("/herd"), 1);
    assert.ok(answers.every((res) => res.status === 200 && res.text === "once"));
    assert.equal(answers.filter((res) => status(res) === "MISS").length, 1);
    assert.equal(answers.filter((res) => status(res) === "HIT").length, 49);
  });

  test(`${store}: a body over maxBodySize is streamed whole but not stored`, async (t) => {
    const { origin, get } = await setup(t, { maxBodySize: "1k" });
    const big = Buffer.alloc(64 * 1024, "x");
    origin.route("/big", (_req, res) => res.writeHead(200, { "cache-control": "max-age=60" }).end(big));
    origin.route("/chunked", (_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.write(big.subarray(0, 800));
      res.end(big.subarray(0, 800));
    });
    for (const path of ["/big", "/big", "/chunked", "/chunked"]) {
      const res = await get(path);
      assert.equal(status(res), "MISS", path);
      assert.equal(res.body.length, path === "/big" ? big.length : 1600);
    }
  });

  test(`${store}: bypass rules, Range passed through, purge by key and by prefix`, async (t) => {
    const { origin, get, gw, url } = await setup(t, { bypass: { headers: ["X-No-Cache"], query: ["nocache"], cookies: ["session"] } });
    origin.route("/p/one", (req, res, n) => {
      if (req.headers.range) return void res.writeHead(206, { "content-range": "bytes 0-0/2" }).end("o");
      res.writeHead(200, { "cache-control": "max-age=60" }).end(`one${n}`);
    });
    origin.route("/p/two", (_req, res, n) => res.writeHead(200, { "cache-control": "max-age=60" }).end(`two${n}`));
    origin.route("/q", (_req, res, n) => res.writeHead(200, { "cache-control": "max-age=60" }).end(`q${n}`));
    await get("/p/one");
    assert.equal(status(await get("/p/one")), "HIT");
    const bypassed = await get("/p/one", { "x-no-cache": "1" });
    assert.equal(status(bypassed), "BYPASS");
    assert.equal(bypassed.text, "one2");
    assert.equal(status(await get("/p/one", { "x-no-cache": "0" })), "HIT", 'nginx: "0" does not bypass');
    assert.equal(status(await get("/p/one", { cookie: "a=b; session=xyz" })), "BYPASS");
    const range = await get("/p/one", { range: "bytes=0-0" });
    assert.equal(range.status, 206);
    assert.equal(status(range), "BYPASS");
    assert.equal((await get("/p/one")).text, "one3", "a bypass refreshes the entry (nginx proxy_cache_bypass); a Range does not");

    await get("/p/two");
    await get("/q");
    const host = new URL(url).host;
    const byKey = await gw.purgeCache({ key: `${host}/p/one` });
    assert.ok(byKey.purged >= 1);
    assert.equal(status(await get("/p/one")), "MISS");
    assert.equal(status(await get("/p/two")), "HIT");
    const byPrefix = await gw.purgeCache({ prefix: `${host}/p/` });
    assert.equal(byPrefix.purged, 2);
    assert.equal(status(await get("/p/one")), "MISS");
    assert.equal(status(await get("/p/two")), "MISS");
    assert.equal(status(await get("/q")), "HIT");
    await assert.rejects(gw.purgeCache({}), /key or prefix/);
  });

  test(`${store}: the client's conditional is answered from the cache (304)`, async (t) => {
    const { origin, get } = await setup(t);
    origin.route("/c", (_req, res) => res.writeHead(200, { "cache-control": "max-age=60", etag: '"abc"' }).end("body"));
    await get("/c", { "if-none-match": '"abc"' });
    assert.equal(origin.seen.get("/c")?.[0]?.["if-none-match"], undefined, "a miss asks the upstream for the whole response");
    const res = await get("/c", { "if-none-match": 'W/"abc"' });
    assert.equal(res.status, 304);
    assert.equal(status(res), "HIT");
    assert.equal(res.text, "");
  });
}

test("memory: the byte budget evicts the least recently used entries", async (t) => {
  const origin = await startOrigin(t);
  origin.route("/e", (req, res) => res.writeHead(200, { "cache-control": "max-age=60" }).end(Buffer.alloc(10_000, req.url ?? "")));
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: origin.url, proxyCache: { maxSize: "35k", zone: "small" } } }));
  for (const n of [1, 2, 3]) await request(`${url}/e?${n}`);
  assert.equal((await request(`${url}/e?1`)).headers["x-cache-status"], "HIT");
  await request(`${url}/e?4`); // evicts ?2, the least recently used
  assert.equal((await request(`${url}/e?2`)).headers["x-cache-status"], "MISS");
  assert.equal((await request(`${url}/e?4`)).headers["x-cache-status"], "HIT");
});

test("memory: the upstream down and nothing stored: 502, as the proxy answers", async (t) => {
  const port = await closedPort();
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: `http://127.0.0.1:${port}`, proxyCache: {} } }));
  const res = await request(`${url}/x`);
  assert.equal(res.status, 502);
  assert.equal(JSON.parse(res.text).message, "Bad Gateway");
});

test("a content location under a vhost-wide proxyCache still answers itself", async (t) => {
  const origin = await startOrigin(t);
  const { url } = await startGateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: { localhost: { default: true, proxyCache: {}, locations: { "/": { proxyPass: origin.url }, "/r": { content: "return 'ok'" } } } },
  } as PorticoConfig);
  const res = await request(`${url}/r`);
  assert.equal(res.status, 200);
  assert.equal(res.text, "ok");
});

test("redis: purge reaches entries another gateway stored; a Redis that fails is a miss", async (t) => {
  const redis = await startRedis(t);
  const origin = await startOrigin(t);
  origin.route("/s", (_req, res, n) => res.writeHead(200, { "cache-control": "max-age=60" }).end(`s${n}`));
  const config = singleHost({ "/": { proxyPass: origin.url, proxyCache: { store: "redis" } } }, { redis: { url: redis.url } });
  const a = await startGateway(t, config);
  const b = await startGateway(t, config);
  const host = { host: "shared.test" };
  await request(`${a.url}/s`, { headers: host });
  const shared = await request(`${b.url}/s`, { headers: host });
  assert.equal(shared.headers["x-cache-status"], "HIT", "instances share one Redis cache (same Host, same key)");
  assert.equal(shared.text, "s1");
  assert.equal((await b.gw.purgeCache({ prefix: "shared.test/" })).purged, 1);
  assert.equal((await request(`${a.url}/s`, { headers: host })).headers["x-cache-status"], "MISS");
  await redis.stop();
  const down = await request(`${a.url}/s`, { headers: host });
  assert.equal(down.status, 200);
  assert.equal(down.text, "s3");
});
