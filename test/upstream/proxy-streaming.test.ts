/**
 * Bodies stream through the proxy both ways with bounded memory (DESIGN: proxy/ must not buffer
 * bodies): 50 MiB up and down, with and without Content-Length, checked byte for byte; chunked
 * answers arrive chunk by chunk; HEAD, 204 and 304 carry no body.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { type MemoryProbe, MiB, memoryProbe } from "../helpers/memory.js";
import { rawExchange } from "../helpers/raw-http.js";

const BIG = 50 * MiB;
/**
 * Growth allowed while 50 MiB go through; a proxy that buffers a body holds all of it. Live
 * ArrayBuffers (counted after a scavenge) are where received Buffers live. Downloads also bound
 * rss, which catches what Node copies out of Buffers (a chunked write goes to libuv as one copied
 * block). Uploads only report rss: the chunked writes on both hops churn malloc, and glibc keeps
 * 20-30 MiB of it whether or not anything is buffered.
 */
const MAX_GROWTH = 25 * MiB;

function assertBounded(growth: { rss: number; arrayBuffers: number }, checkRss: boolean): void {
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
  assert.ok(growth.arrayBuffers < MAX_GROWTH, `live ArrayBuffers grew by ${mib(growth.arrayBuffers)} while 50 MiB went through`);
  if (checkRss) assert.ok(growth.rss < MAX_GROWTH, `rss grew by ${mib(growth.rss)} while 50 MiB went through`);
}

/** A body of `total` bytes built from a few random blocks (no 50 MiB in memory), with its sha256. */
function generatedBody(total: number, probe: MemoryProbe): { stream: Readable; digest: () => string } {
  const blocks = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
  const hash = createHash("sha256");
  let sent = 0;
  let index = 0;
  const stream = new Readable({
    read() {
      probe.sample();
      if (sent >= total) {
        this.push(null);
        return;
      }
      const block = blocks[(index++ * 7) % blocks.length] as Buffer;
      const chunk = block.subarray(0, Math.min(block.length, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest("hex") };
}

/** Sends a streamed body and reads the JSON answer. */
function upload(url: string, body: Readable, headers: Record<string, string>): Promise<{ status: number; json: { length: number; sha256: string } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    body.pipe(req);
  });
}

/** Reads a streamed answer without keeping it: length and sha256. */
function download(url: string, probe: MemoryProbe): Promise<{ res: IncomingMessage; length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { agent: false }, (res) => {
      const hash = createHash("sha256");
      let length = 0;
      res.on("data", (chunk: Buffer) => {
        probe.sample();
        length += chunk.length;
        hash.update(chunk);
      });
      res.on("end", () => resolve({ res, length, sha256: hash.digest("hex") }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

/** sha256 of what the echo upstream's /bytes and /stream-bytes send: "x" repeated. */
function sha256OfX(total: number): string {
  const block = Buffer.alloc(64 * 1024, "x");
  const hash = createHash("sha256");
  for (let left = total; left > 0; left -= block.length) hash.update(left >= block.length ? block : block.subarray(0, left));
  return hash.digest("hex");
}

async function bigGateway(t: Parameters<typeof startGateway>[0]) {
  const up = await startEcho(t);
  const gateway = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, clientMaxBodySize: "100m" } }));
  return { up, url: gateway.url };
}

for (const framing of ["Content-Length", "chunked"] as const) {
  test(`a 50 MiB request body (${framing}) streams to the upstream intact, memory bounded`, async (t) => {
    const { url } = await bigGateway(t);
    const probe = memoryProbe();
    const body = generatedBody(BIG, probe);
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (framing === "Content-Length") headers["content-length"] = String(BIG);
    const res = await upload(`${url}/count`, body.stream, headers);
    assert.equal(res.status, 200);
    assert.equal(res.json.length, BIG);
    assert.equal(res.json.sha256, body.digest());
    const growth = probe.growth();
    t.diagnostic(`growth: rss ${(growth.rss / MiB).toFixed(1)} MiB, arrayBuffers ${(growth.arrayBuffers / MiB).toFixed(1)} MiB`);
    assertBounded(growth, false);
  });
}

for (const path of [`/bytes/${BIG}`, `/stream-bytes/${BIG}`]) {
  test(`a 50 MiB response (${path.split("/")[1]}) streams to the client intact, memory bounded`, async (t) => {
    const { url } = await bigGateway(t);
    const probe = memoryProbe();
    const { res, length, sha256 } = await download(`${url}${path}`, probe);
    assert.equal(res.statusCode, 200);
    if (path.startsWith("/bytes/")) assert.equal(res.headers["content-length"], String(BIG));
    else assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.equal(length, BIG);
    assert.equal(sha256, sha256OfX(BIG));
    const growth = probe.growth();
    t.diagnostic(`growth: rss ${(growth.rss / MiB).toFixed(1)} MiB, arrayBuffers ${(growth.arrayBuffers / MiB).toFixed(1)} MiB`);
    assertBounded(growth, true);
  });
}

test("a chunked upstream answer reaches the client chunk by chunk: the first before the last is sent", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const req = httpRequest(`${url}/hold/first-then-last`, { agent: false });
  t.after(() => req.destroy());
  const res = await new Promise<IncomingMessage>((resolve, reject) => req.on("response", resolve).on("error", reject).end());
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["transfer-encoding"], "chunked");
  const chunks = res[Symbol.asyncIterator]();
  // The upstream sent "first\n" and waits for release(): this only arrives if nothing buffers it.
  const first = await chunks.next();
  assert.equal(String(first.value), "first\n");
  assert.ok(up.release("first-then-last"));
  let rest = "";
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) rest += String(next.value);
  assert.equal(rest, "last\n");
});

test("/drip arrives whole, in several chunks", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    httpRequest(`${url}/drip?n=4&interval=5`, { agent: false }, resolve).on("error", reject).end(),
  );
  const chunks: string[] = [];
  for await (const chunk of res) chunks.push(String(chunk));
  assert.equal(chunks.join(""), "chunk 4\nchunk 3\nchunk 2\nchunk 1\n");
  assert.ok(chunks.length > 1, `arrived in ${chunks.length} chunk(s)`);
});

test("HEAD has no body and keeps Content-Length; 204 and 304 have no body", async (t) => {
  const up = await startEcho(t);
  const { url, port } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));

  const head = await request(`${url}/bytes/1000`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], "1000");
  assert.equal(head.body.length, 0);
  assert.equal(up.seen.at(-1)?.method, "HEAD");

  const noContent = await request(`${url}/status/204`);
  assert.equal(noContent.status, 204);
  assert.equal(noContent.body.length, 0);
  assert.equal(noContent.headers["content-length"], undefined);
  assert.equal(noContent.headers["transfer-encoding"], undefined);

  const notModified = await request(`${url}/etag`, { headers: { "If-None-Match": '"v1"' } });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers.etag, '"v1"');
  assert.equal(notModified.body.length, 0);
  assert.equal(up.seen.at(-1)?.headers["if-none-match"], '"v1"', "conditional headers reach the upstream");

  const full = await request(`${url}/etag`);
  assert.equal(full.status, 200);
  assert.equal(full.text, "hello");

  // On the wire: nothing after the header section of HEAD, 204 and 304 (the next response follows at once).
  const wire = await rawExchange(
    port,
    `HEAD /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /etag HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\n\r\nGET /anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  const statuses = [...wire.raw.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 204, 304, 200]);
  const sections = wire.raw.split(/(?=^HTTP\/1\.1 \d{3})/m);
  for (const section of sections.slice(0, 3)) assert.ok(section.endsWith("\r\n\r\n"), `no body after ${JSON.stringify(section.slice(0, 15))}`);
});
