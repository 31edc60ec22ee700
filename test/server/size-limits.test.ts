/**
 * clientMaxBodySize (413) and largeClientHeaderBuffers (431) over raw sockets: the upstream never
 * handles an oversized body (by Content-Length it never even hears of the request; a chunked body
 * that grows past the limit is cut before the upstream has it whole), on plain proxy locations
 * and on locations with hooks; and the gateway serves the next request.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { EchoUpstream } from "../fixtures/echo-upstream.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { rawExchange } from "../helpers/raw-http.js";

const LIMIT = 1024;

async function setup(t: TestContext) {
  const up = await startEcho(t);
  const gateway = await startGateway(
    t,
    singleHost(
      {
        "/plain/": { proxyPass: `${up.origin}/` },
        "/hooked/": { proxyPass: `${up.origin}/`, access: "ctx.store.set('seen', true)" },
        "/reads/": { proxyPass: `${up.origin}/`, access: "await ctx.request.text()" },
      },
      { clientMaxBodySize: LIMIT, largeClientHeaderBuffers: "2 1k" },
    ),
  );
  return { up, ...gateway };
}

/** The gateway still answers on a fresh connection, and the upstream handled nothing oversized. */
async function stillServing(url: string, up: EchoUpstream): Promise<void> {
  const res = await request(`${url}/plain/anything`, { method: "POST", body: "x".repeat(LIMIT) });
  assert.equal(res.status, 200, "a body of exactly the limit passes");
  assert.equal(JSON.parse(res.text).bodyLength, LIMIT);
  for (const record of up.seen) assert.ok(record.bodyLength <= LIMIT, `the upstream handled a ${record.bodyLength}-byte body`);
}

for (const path of ["/plain/anything", "/hooked/anything", "/reads/anything"]) {
  test(`${path}: Content-Length over the limit gets 413 before the upstream hears of it`, async (t) => {
    const { up, port, url } = await setup(t);
    const res = await rawExchange(port, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${LIMIT + 1}\r\n\r\n${"x".repeat(LIMIT + 1)}`);
    assert.equal(res.status, 413);
    assert.match(res.body, /"message":"Content Too Large"/);
    assert.equal(res.headers.connection, "close", "the rest of the body is not read: the connection closes, as nginx does");
    assert.ok(res.closed);
    assert.equal(up.seen.length, 0);
    // Only the headers, body never sent: the answer must not wait for it.
    const early = await rawExchange(port, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n`, { untilResponse: true });
    assert.equal(early.status, 413);
    assert.equal(up.seen.length, 0);
    await stillServing(url, up);
  });

  test(`${path}: a chunked body growing past the limit gets 413; the upstream never handles it`, async (t) => {
    const { up, port, url } = await setup(t);
    const chunk = `258\r\n${"y".repeat(600)}\r\n`;
    // Two chunks (1200 bytes) and no end: the gateway must answer without waiting for the rest.
    const res = await rawExchange(port, [`POST ${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n`, chunk, chunk], {
      untilResponse: true,
    });
    assert.equal(res.status, 413);
    assert.equal(res.headers.connection, "close");
    assert.equal(up.seen.length, 0, "the upstream handled no request");
    await stillServing(url, up);
  });
}

test("a chunked body within the limit streams through whole", async (t) => {
  const { up, port } = await setup(t);
  const res = await rawExchange(
    port,
    `POST /hooked/anything HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n200\r\n${"z".repeat(512)}\r\n200\r\n${"z".repeat(512)}\r\n0\r\n\r\n`,
  );
  assert.equal(res.status, 200);
  assert.equal(up.seen.at(-1)?.bodyLength, LIMIT);
});

test("431 for one huge header and for too many headers; the next request is served", async (t) => {
  const { up, port, url } = await setup(t);
  const huge = await rawExchange(port, `GET /plain/anything HTTP/1.1\r\nHost: localhost\r\nX-Huge: ${"h".repeat(3000)}\r\n\r\n`);
  assert.equal(huge.status, 431);
  assert.ok(huge.closed);
  const many = Array.from({ length: 200 }, (_, i) => `X-Many-${i}: v\r\n`).join("");
  const tooMany = await rawExchange(port, `GET /hooked/anything HTTP/1.1\r\nHost: localhost\r\n${many}\r\n`);
  assert.equal(tooMany.status, 431);
  assert.ok(tooMany.closed);
  assert.equal(up.seen.length, 0, "the upstream saw neither");
  // Under the limit on a kept-alive connection, then the next request on it.
  const fits = Array.from({ length: 20 }, (_, i) => `X-Some-${i}: v\r\n`).join("");
  const both = await rawExchange(port, [
    `GET /plain/anything HTTP/1.1\r\nHost: localhost\r\n${fits}\r\n`,
    "GET /plain/anything HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
  ]);
  assert.equal((both.raw.match(/HTTP\/1\.1 200/g) ?? []).length, 2);
  await stillServing(url, up);
});
