/**
 * proxyCache's key is the request target as it goes upstream, not the normalised path: nginx's
 * default proxy_cache_key is $scheme$proxy_host$request_uri, the bytes it sends. `/c/%68ome` and
 * `/c/home` normalise to the same $uri, but proxyPass without a URI part sends each raw, so the
 * upstream may answer them differently; keying both on `/c/home` lets whoever asks first decide
 * what everybody else gets (cache poisoning).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { request, singleHost, startGateway } from "../../helpers/gateway.js";

/** An upstream that answers with the raw target it received (req.url is not decoded by node:http), cacheable for a minute. */
async function startRawOrigin(t: TestContext): Promise<{ origin: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    seen.push(url);
    res.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain" }).end(`upstream saw ${url}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function setup(t: TestContext) {
  const upstream = await startRawOrigin(t);
  // No URI part in proxyPass: the request target goes upstream as the client sent it (nginx).
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: upstream.origin, proxyCache: {} } }));
  // `path` is sent byte for byte (no URL normalisation on the client side).
  const get = async (path: string) => {
    const res = await request(`${url}/`, { path });
    return { status: res.status, cache: res.headers["x-cache-status"], body: res.text };
  };
  return { upstream, get };
}

test("an escaped target first does not poison the plain one: /c/%68ome, then /c/home gets the upstream's /c/home answer", async (t) => {
  const { upstream, get } = await setup(t);
  const escaped = await get("/c/%68ome");
  assert.deepEqual(escaped, { status: 200, cache: "MISS", body: "upstream saw /c/%68ome" });
  const plain = await get("/c/home");
  assert.deepEqual(plain, { status: 200, cache: "MISS", body: "upstream saw /c/home" }, "/c/home was answered with what the upstream said for /c/%68ome");
  // Each target is still cached under its own bytes.
  assert.deepEqual(await get("/c/home"), { status: 200, cache: "HIT", body: "upstream saw /c/home" });
  assert.deepEqual(await get("/c/%68ome"), { status: 200, cache: "HIT", body: "upstream saw /c/%68ome" });
  assert.deepEqual(upstream.seen, ["/c/%68ome", "/c/home"]);
});

test("and the other way round: /c/home first, then /c/%68ome gets the upstream's /c/%68ome answer", async (t) => {
  const { upstream, get } = await setup(t);
  assert.deepEqual(await get("/c/home"), { status: 200, cache: "MISS", body: "upstream saw /c/home" });
  const escaped = await get("/c/%68ome");
  assert.deepEqual(escaped, { status: 200, cache: "MISS", body: "upstream saw /c/%68ome" }, "/c/%68ome was answered with what the upstream said for /c/home");
  assert.deepEqual(await get("/c/%68ome"), { status: 200, cache: "HIT", body: "upstream saw /c/%68ome" });
  assert.deepEqual(await get("/c/home"), { status: 200, cache: "HIT", body: "upstream saw /c/home" });
  assert.deepEqual(upstream.seen, ["/c/home", "/c/%68ome"]);
});
