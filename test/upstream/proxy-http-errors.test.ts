/**
 * Requests the gateway refuses before (or while) proxying, as nginx does: bodies over
 * clientMaxBodySize (413), header sections over largeClientHeaderBuffers (431), malformed HTTP,
 * paths that climb above /, and bad Host headers (400). Nothing of a refused request reaches the
 * upstream, nothing crashes, and the next request on a new connection is served.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import type { EchoUpstream } from "../fixtures/echo-upstream.js";
import { errorBody, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { type RawResponse, rawExchange } from "../helpers/raw-http.js";
import { HANG_MS } from "../helpers/wait.js";

/** A hang guard only: nothing here waits for a time to pass. */
const BOUNDED = { timeout: HANG_MS };
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

async function setup(t: Parameters<typeof startGateway>[0], top: Parameters<typeof singleHost>[1] = {}) {
  const up = await startEcho(t);
  const gateway = await startGateway(
    t,
    singleHost(
      {
        "/": { proxyPass: up.origin },
        "/small/": { proxyPass: `${up.origin}/`, clientMaxBodySize: "1k" },
      },
      top,
    ),
  );
  return { up, ...gateway };
}

/** A normal request on a new connection still gets 200 from the upstream. */
async function assertStillServing(url: string, up: EchoUpstream): Promise<void> {
  const before = up.seen.length;
  const res = await request(`${url}/anything/after`);
  assert.equal(res.status, 200);
  assert.equal(up.seen.length, before + 1);
}

function assertRefused(res: RawResponse, status: number, what: string): void {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.raw.slice(0, 300))}`);
  assert.equal(res.headers.server, "portico", what);
  assert.match(res.headers.date ?? "", HTTP_DATE, what);
  const responses = res.raw.match(/^HTTP\/1\.[01] \d{3}/gm) ?? [];
  assert.equal(responses.length, 1, `${what}: exactly one response on the wire, got ${JSON.stringify(res.raw)}`);
}

test("Content-Length above clientMaxBodySize: 413 from the headers alone, nothing reaches the upstream", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  // Only the header section is sent: the answer must not wait for the body.
  const raw = await rawExchange(port, "POST /small/anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n", { untilResponse: true });
  assertRefused(raw, 413, "Content-Length 2048 over 1k");
  assert.equal(JSON.parse(raw.body).message, "Content Too Large");

  const sent = await request(`${url}/small/anything`, { method: "POST", body: "x".repeat(2048) });
  assert.equal(sent.status, 413);
  assert.equal(errorBody(sent).message, "Content Too Large");

  // The default is nginx's 1m.
  const big = await rawExchange(port, `POST /anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n`, { untilResponse: true });
  assertRefused(big, 413, "Content-Length 1m + 1 with the default limit");
  const atLimit = await request(`${url}/small/anything`, { method: "POST", body: "x".repeat(1024) });
  assert.equal(atLimit.status, 200, "exactly the limit is allowed");
  assert.equal(JSON.parse(atLimit.text).bodyLength, 1024);

  assert.deepEqual(
    up.seen.map((seen) => seen.bodyLength),
    [1024],
    "only the request within the limit reached the upstream",
  );
  await assertStillServing(url, up);
});

/** After a 413 the connection is either closed or still in step: the refused body is never read as a request. */
function assertInStep(raw: RawResponse, what: string): void {
  const statuses = (raw.raw.match(/^HTTP\/1\.1 \d{3}/gm) ?? []).map((line) => Number(line.slice(9)));
  assert.equal(statuses[0], 413, what);
  if (statuses.length === 1) assert.ok(raw.closed, `${what}: closed after the 413`);
  else assert.deepEqual(statuses, [413, 200], `${what}: the pipelined request is answered, nothing else`);
}

test("a request pipelined after a refused body is answered in step, or the connection closes", BOUNDED, async (t) => {
  const { port } = await setup(t);
  const next = "GET /anything/second HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  const fixed = await rawExchange(
    port,
    `POST /small/anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n${"GET / HTTP/1.1\r\n".repeat(125)}${next}`,
  );
  assertInStep(fixed, "Content-Length");
  const chunk = "GET / HTTP/1.1\r\n".repeat(40);
  const chunked = await rawExchange(
    port,
    `POST /small/anything HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n280\r\n${chunk}\r\n280\r\n${chunk}\r\n0\r\n\r\n${next}`,
  );
  assertInStep(chunked, "chunked");
});

test("a chunked body that goes over clientMaxBodySize gets 413, and the gateway serves on", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  const chunk = "a".repeat(600);
  const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
  const raw = await rawExchange(port, `POST /small/anything HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, { untilResponse: true });
  assertRefused(raw, 413, "chunked body of 1800 bytes over 1k");
  assert.equal(JSON.parse(raw.body).message, "Content Too Large");
  assert.equal(up.seen.length, 0, "the upstream never saw a whole request");

  // Streamed by a client that keeps writing: it gets the 413 and nothing crashes.
  const streamed = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${url}/small/count`, { method: "POST", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on("error", reject);
    for (let i = 0; i < 8; i++) req.write("b".repeat(512));
  });
  assert.equal(streamed, 413);

  // The upstream answered already (/echo streams the body back): the only honest answer left is a cut.
  let over = false;
  const cut = await rawExchange(port, `POST /small/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n`, {
    onData(received, socket) {
      if (over || !received.includes(chunk)) return;
      over = true;
      socket.write(`258\r\n${chunk}\r\n0\r\n\r\n`);
    },
  });
  assert.ok(over);
  assert.equal(cut.status, 200, "the echo had begun");
  assert.ok(cut.closed, "the connection is cut once the body goes over the limit");
  assert.deepEqual(cut.raw.match(/^HTTP\/1\.1 \d{3}/gm), ["HTTP/1.1 200"]);
  assert.ok(!cut.body.endsWith("0\r\n\r\n"), "the cut body is not terminated as if it were whole");

  // Within the limit, chunked goes through.
  const small = await request(`${url}/small/anything`, { method: "POST", headers: { "Transfer-Encoding": "chunked" }, body: "c".repeat(1000) });
  assert.equal(small.status, 200);
  assert.equal(JSON.parse(small.text).bodyLength, 1000);
  await assertStillServing(url, up);
});

test('a header section over largeClientHeaderBuffers ("2 1k") gets 431', BOUNDED, async (t) => {
  const { up, url, port } = await setup(t, { largeClientHeaderBuffers: "2 1k" });
  const raw = await rawExchange(port, `GET /anything HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"y".repeat(3000)}\r\n\r\n`);
  assertRefused(raw, 431, "3000-byte header");
  assert.ok(raw.closed, "the connection is closed after a refused header section");
  const many = await rawExchange(
    port,
    `GET /anything HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 40 }, (_, i) => `X-H${i}: ${"z".repeat(60)}\r\n`).join("")}\r\n`,
  );
  assertRefused(many, 431, "40 headers of 70 bytes");
  const fits = await request(`${url}/anything`, { headers: { "X-Fits": "w".repeat(1000) } });
  assert.equal(fits.status, 200, "a header section within the limit passes");
  assert.equal(up.seen.length, 1);
  await assertStillServing(url, up);
});

test("malformed HTTP over a raw socket gets 400 and a closed connection", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  const cases: Array<[string, string]> = [
    ["bad request line", "GARBAGE\r\n\r\n"],
    ["bad method token", "G(T / HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["space in a header name", "GET /anything HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n"],
    ["header line without a colon", "GET /anything HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n"],
    [
      "Content-Length and Transfer-Encoding together",
      "POST /anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["two different Content-Lengths", "POST /anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
    ["HTTP/1.1 without Host", "GET /anything HTTP/1.1\r\n\r\n"],
    ["two Host headers (nginx: client sent duplicate host header)", "GET /anything HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"],
  ];
  for (const [what, bytes] of cases) {
    const res = await rawExchange(port, bytes);
    assertRefused(res, 400, what);
    assert.ok(res.closed, `${what}: connection closed`);
  }
  assert.equal(up.seen.length, 0, "none of them reached the upstream");
  await assertStillServing(url, up);
});

test("an invalid chunk in a proxied body gets one 400 (or a cut), never a corrupted exchange", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  for (const path of ["/anything", "/count", "/echo"]) {
    const res = await rawExchange(port, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n`);
    assert.ok(res.closed, `${path}: connection closed`);
    // The upstream may have begun answering (/echo streams the body back): then a cut is the only honest answer.
    if (res.status !== 0 && !(path === "/echo" && res.status === 200)) assertRefused(res, 400, `invalid chunk size to ${path}`);
  }
  assert.equal(up.seen.length, 0, "no whole request reached the upstream");
  await assertStillServing(url, up);
});

test("an invalid chunk after the proxied answer began cuts the connection instead of writing a 400 into the body", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  let sentBadChunk = false;
  const res = await rawExchange(port, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", {
    // /echo streams the body back: once "hello" is back, the response has begun.
    onData(received, socket) {
      if (sentBadChunk || !received.includes("hello")) return;
      sentBadChunk = true;
      socket.write("zz\r\nmore\r\n0\r\n\r\n");
    },
  });
  assert.ok(sentBadChunk);
  assert.equal(res.status, 200);
  assert.ok(res.closed);
  assert.deepEqual(res.raw.match(/^HTTP\/1\.1 \d{3}/gm), ["HTTP/1.1 200"], "no second response inside the first one");
  assert.ok(!res.body.endsWith("0\r\n\r\n"), "the cut body is not terminated as if it were whole");
  await assertStillServing(url, up);
});

test("a path that climbs above / gets 400", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  for (const path of ["/../x", "/%2e%2e/x", "/a/../../x", "/%2E%2E%2Fx", "/a/%2e%2e/%2e%2e/x"]) {
    const res = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`, { untilResponse: true });
    assertRefused(res, 400, path);
    assert.equal(JSON.parse(res.body).message, "Bad Request");
  }
  // Climbing that stays inside / is fine: nginx resolves it.
  const inside = await rawExchange(port, "GET /a/../anything HTTP/1.1\r\nHost: localhost\r\n\r\n", { untilResponse: true });
  assert.equal(inside.status, 200);
  assert.equal(up.seen.at(-1)?.url, "/a/../anything", "without a URI part the raw URI goes upstream");
  await assertStillServing(url, up);
});

test("a bad Host header gets 400", BOUNDED, async (t) => {
  const { up, url, port } = await setup(t);
  for (const host of ["a..b", "exa/mple.com", "[::1", "host:99999", "host:port", ""]) {
    const res = await rawExchange(port, `GET /anything HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { untilResponse: true });
    assertRefused(res, 400, `Host: ${JSON.stringify(host)}`);
  }
  assert.equal(up.seen.length, 0);
  await assertStillServing(url, up);
});
