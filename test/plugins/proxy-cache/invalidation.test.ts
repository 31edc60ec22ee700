/**
 * RFC 9111 4.4: a cache invalidates the stored responses of an unsafe request's target only
 * "when it receives a non-error status code in response to an unsafe request method" (2xx or
 * 3xx). A POST that failed (5xx) or was refused (4xx) changed nothing: the cached GET stands.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { request, singleHost, startGateway } from "../../helpers/gateway.js";

/** /item: a cacheable GET (its body counts the GETs); an unsafe request gets `unsafeStatus`. */
async function setup(t: TestContext) {
  const origin = { unsafeStatus: 500, gets: 0, unsafe: [] as string[] };
  const server = createServer((req, res) => {
    req.resume();
    if (req.method === "GET") {
      origin.gets++;
      res.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain" }).end(`version ${origin.gets}`);
      return;
    }
    origin.unsafe.push(`${req.method} ${origin.unsafeStatus}`);
    res.writeHead(origin.unsafeStatus, { "content-type": "text/plain" }).end(`${req.method} answered ${origin.unsafeStatus}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, proxyCache: {} } }));
  const get = async () => {
    const res = await request(`${url}/item`);
    return { cache: res.headers["x-cache-status"], body: res.text };
  };
  const send = async (method: string, status: number) => {
    origin.unsafeStatus = status;
    // A body with its length (node:http frames none by itself for DELETE).
    const res = await request(`${url}/item`, { method, headers: { "content-type": "text/plain", "content-length": "6" }, body: "change" });
    assert.equal(res.status, status);
  };
  return { origin, get, send };
}

test("an unsafe request answered with an error (5xx, 4xx) leaves the cached GET in place", async (t) => {
  const { origin, get, send } = await setup(t);
  assert.deepEqual(await get(), { cache: "MISS", body: "version 1" });
  assert.deepEqual(await get(), { cache: "HIT", body: "version 1" });
  for (const [method, status] of [
    ["POST", 500],
    ["PUT", 503],
    ["DELETE", 404],
    ["POST", 409],
  ] as const) {
    await send(method, status);
    assert.deepEqual(await get(), { cache: "HIT", body: "version 1" }, `${method} answered ${status} invalidated the cached GET`);
  }
  assert.equal(origin.gets, 1);
});

test("an unsafe request answered with a success (2xx) or a redirect (3xx) invalidates the cached GET", async (t) => {
  const { origin, get, send } = await setup(t);
  let version = 1;
  assert.deepEqual(await get(), { cache: "MISS", body: "version 1" });
  for (const [method, status] of [
    ["POST", 201],
    ["PUT", 204],
    ["DELETE", 200],
    ["POST", 303],
  ] as const) {
    assert.deepEqual(await get(), { cache: "HIT", body: `version ${version}` });
    await send(method, status);
    // Invalidated by the time the client has the answer: its next GET sees what it changed.
    version++;
    assert.deepEqual(await get(), { cache: "MISS", body: `version ${version}` }, `${method} answered ${status} did not invalidate the cached GET`);
  }
  assert.equal(origin.gets, 5);
});
