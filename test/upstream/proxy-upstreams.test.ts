/**
 * `upstreams` groups as nginx's `upstream` blocks: round-robin over equal servers, smooth weighted
 * round-robin with weights, and Host set to the group's name ($proxy_host).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";

test("proxyPass http://backend/ alternates between the group's servers, with Host: backend", async (t) => {
  const a = await startEcho(t);
  const b = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({ "/api/": { proxyPass: "http://backend/" } }, { upstreams: { backend: { servers: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] } } }),
  );
  const order: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await request(`${url}/api/anything/${i}`);
    assert.equal(res.status, 200);
    order.push(a.seen.some((seen) => seen.url === `/anything/${i}`) ? "a" : "b");
  }
  assert.deepEqual(order, ["a", "b", "a", "b", "a", "b"]);
  for (const seen of [...a.seen, ...b.seen]) assert.equal(seen.headers.host, "backend");
});

test("weights 3:1 give a 3:1 split over 40 requests, interleaved as nginx's smooth round-robin", async (t) => {
  const a = await startEcho(t);
  const b = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost(
      { "/": { proxyPass: "http://weighted" } },
      { upstreams: { weighted: { servers: { [`127.0.0.1:${a.port}`]: { weight: 3 }, [`127.0.0.1:${b.port}`]: {} } } } },
    ),
  );
  const order: string[] = [];
  for (let i = 0; i < 40; i++) {
    const res = await request(`${url}/anything/${i}`);
    assert.equal(res.status, 200);
    order.push(a.seen.some((seen) => seen.url === `/anything/${i}`) ? "a" : "b");
  }
  assert.equal(a.seen.length, 30);
  assert.equal(b.seen.length, 10);
  // Smooth weighted round-robin never sends the light server two in a row.
  assert.deepEqual(order.slice(0, 4).sort(), ["a", "a", "a", "b"]);
  assert.ok(!order.join("").includes("bb"));
  assert.equal(a.seen[0]?.headers.host, "weighted");
});
