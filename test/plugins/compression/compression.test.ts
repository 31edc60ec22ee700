/**
 * compression: the schema, the choice by Accept-Encoding, then what arrives over a real socket,
 * decompressed with node:zlib: proxied and own responses, the skips (type, size, HEAD, 204, 304,
 * encoded, no-transform), ETag and Vary, and a streaming upstream reaching the client chunk by
 * chunk.
 */
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import zlib from "node:zlib";
import { chooseCoding } from "../../../src/plugins/compression/index.js";
import { compressionSchema, DEFAULT_TYPES } from "../../../src/plugins/compression/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";

test("schema: nginx-like defaults and refused values", () => {
  assert.deepEqual(compressionSchema.parse({}), { types: DEFAULT_TYPES, minLength: 20, level: 6, brotli: true, brotliLevel: 4, gzip: true });
  assert.ok(DEFAULT_TYPES.includes("text/html") && DEFAULT_TYPES.includes("application/json"));
  assert.equal(compressionSchema.safeParse({ types: ["*"] }).success, true);
  assert.equal(compressionSchema.safeParse({ types: ["text/html; charset=utf-8"] }).success, false, "types without parameters");
  assert.equal(compressionSchema.safeParse({ types: ["html"] }).success, false);
  assert.equal(compressionSchema.safeParse({ types: [] }).success, false);
  assert.equal(compressionSchema.safeParse({ level: 0 }).success, false);
  assert.equal(compressionSchema.safeParse({ level: 10 }).success, false);
  assert.equal(compressionSchema.safeParse({ brotliLevel: 12 }).success, false);
  assert.equal(compressionSchema.safeParse({ minLength: -1 }).success, false);
  assert.equal(compressionSchema.safeParse({ gzipTypes: ["text/html"] }).success, false, "unknown fields are refused");
});

test("chooseCoding: q-values, *, x-gzip, refusals", () => {
  assert.equal(chooseCoding(undefined, true, true), null);
  assert.equal(chooseCoding("", true, true), null);
  assert.equal(chooseCoding("identity", true, true), null);
  assert.equal(chooseCoding("gzip", true, true), "gzip");
  assert.equal(chooseCoding("x-gzip", true, true), "gzip");
  assert.equal(chooseCoding("gzip, deflate, br", true, true), "br", "br preferred on a tie");
  assert.equal(chooseCoding("gzip, deflate, br", true, false), "gzip", "brotli off");
  assert.equal(chooseCoding("br", false, true), "br");
  assert.equal(chooseCoding("gzip", false, true), null, "gzip off");
  assert.equal(chooseCoding("br;q=0.5, gzip", true, true), "gzip");
  assert.equal(chooseCoding("br;q=1.0, gzip;q=0.8", true, true), "br");
  assert.equal(chooseCoding("GZIP;Q=0.3", true, true), "gzip");
  assert.equal(chooseCoding("gzip;q=0, br;q=0", true, true), null);
  assert.equal(chooseCoding("*", true, true), "br");
  assert.equal(chooseCoding("*;q=0.5, br;q=0", true, true), "gzip");
  assert.equal(chooseCoding("deflate", true, true), null);
  assert.equal(chooseCoding("gzip;q=bad", true, true), null, "an unreadable q is 0");
});

function decode(coding: string | undefined, body: Buffer): Buffer {
  if (coding === "gzip") return zlib.gunzipSync(body);
  if (coding === "br") return zlib.brotliDecompressSync(body);
  return body;
}

const TEXT = "Portico compresses this line. ".repeat(200);

test("proxied responses: gzip and br by Accept-Encoding, Vary, no Content-Length, decoded intact", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, compression: {} } }));
  for (const [accept, coding] of [
    ["gzip", "gzip"],
    ["gzip, deflate, br", "br"],
    ["br;q=0.1, gzip", "gzip"],
  ] as const) {
    const res = await request(`${url}/anything/compress-me?pad=${"p".repeat(300)}`, { headers: { "Accept-Encoding": accept } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], coding, accept);
    assert.equal(res.headers["content-length"], undefined);
    assert.equal(res.headers.vary, "Accept-Encoding");
    const json = JSON.parse(decode(coding, res.body).toString("utf8")) as { path: string };
    assert.equal(json.path, `/anything/compress-me?pad=${"p".repeat(300)}`.split("?")[0]);
    assert.ok(res.body.length < decode(coding, res.body).length, "smaller than the original");
  }
  const plain = await request(`${url}/anything`);
  assert.equal(plain.headers["content-encoding"], undefined, "no Accept-Encoding: identity");
  assert.equal(plain.headers.vary, "Accept-Encoding", "still varies: a cache must not serve this to a gzip client blindly");
  assert.equal(JSON.parse(plain.text).path, "/anything");
  assert.equal(up.seen.at(-1)?.headers["accept-encoding"], undefined, "Accept-Encoding is not invented upstream");
});

test("skips: other types, small bodies, HEAD, 204, 304, encoded, no-transform; ETag weakened when compressed", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": { proxyPass: up.origin, compression: {} },
      "/all/": { proxyPass: `${up.origin}/`, compression: { types: ["*"], minLength: 0 } },
    }),
  );
  const gz = { "Accept-Encoding": "gzip" };
  const octet = await request(`${url}/bytes/5000`, { headers: gz });
  assert.equal(octet.headers["content-encoding"], undefined, "application/octet-stream is not in the default types");
  assert.equal(octet.headers["content-length"], undefined, "(a body filter on the location sends chunked)");
  assert.equal(octet.body.length, 5000);
  assert.equal(octet.headers.vary, undefined, "not compressible: no Vary");

  const small = await request(`${url}/etag`, { headers: gz });
  assert.equal(small.headers["content-encoding"], undefined, "5 bytes < minLength 20");
  assert.equal(small.headers.etag, '"v1"', "strong ETag kept when the bytes are not changed");
  assert.equal(small.text, "hello");

  const weak = await request(`${url}/all/etag`, { headers: gz });
  assert.equal(weak.headers["content-encoding"], "gzip");
  assert.equal(weak.headers.etag, 'W/"v1"', "RFC 9110 8.8.3: the compressed bytes get a weak validator");
  assert.equal(decode("gzip", weak.body).toString(), "hello");

  const notModified = await request(`${url}/all/etag`, { headers: { ...gz, "If-None-Match": '"v1"' } });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers["content-encoding"], undefined);

  const head = await request(`${url}/all/anything`, { method: "HEAD", headers: gz });
  assert.equal(head.headers["content-encoding"], undefined);
  assert.equal(head.body.length, 0);

  const noContent = await request(`${url}/all/status/204`, { headers: gz });
  assert.equal(noContent.status, 204);
  assert.equal(noContent.headers["content-encoding"], undefined);

  const encoded = await request(`${url}/all/headers?content-encoding=deflate`, { headers: gz });
  assert.equal(encoded.headers["content-encoding"], "deflate", "already encoded: passed as it is");
  assert.equal(encoded.text, "ok");

  const noTransform = await request(`${url}/all/headers?cache-control=public,%20no-transform`, { headers: gz });
  assert.equal(noTransform.headers["content-encoding"], undefined, "Cache-Control: no-transform");
  assert.equal(noTransform.text, "ok");

  const big = await request(`${url}/all/bytes/1000000`, { headers: { "Accept-Encoding": "br" } });
  assert.equal(big.headers["content-encoding"], "br");
  const decoded = decode("br", big.body);
  assert.equal(decoded.length, 1_000_000);
  assert.ok(decoded.every((byte) => byte === 0x78));
});

test("own responses: return (capitalised headers), content strings and streamed Responses", async (t) => {
  const { url } = await startGateway(
    t,
    singleHost({
      "/return": { return: `200 '${TEXT}'`, defaultType: "text/plain", compression: {} },
      "/content": { content: `return ${JSON.stringify(TEXT)}`, defaultType: "text/html", compression: {} },
      "/stream": {
        content: `const parts = ["one ", "two ", "three"]; return new Response(new ReadableStream({ pull(c) { const p = parts.shift(); if (p) c.enqueue(new TextEncoder().encode(p.repeat(50))); else c.close(); } }), { headers: { "content-type": "application/json" } })`,
        compression: {},
      },
    }),
  );
  for (const path of ["/return", "/content"]) {
    const res = await request(`${url}${path}`, { headers: { "Accept-Encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], "gzip", path);
    assert.equal(res.headers["content-length"], String(res.body.length), `${path}: a whole body gets its compressed length`);
    assert.equal(decode("gzip", res.body).toString(), TEXT, path);
  }
  const stream = await request(`${url}/stream`, { headers: { "Accept-Encoding": "br" } });
  assert.equal(stream.headers["content-encoding"], "br");
  assert.equal(decode("br", stream.body).toString(), `${"one ".repeat(50)}${"two ".repeat(50)}${"three".repeat(50)}`);
});

/** Streams a GET, decoding as it goes; `onText` sees the decoded text so far after each piece. */
function streamDecoded(url: string, accept: string, onText: (text: string) => void): Promise<{ headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { "Accept-Encoding": accept }, agent: false }, (res) => {
      const coding = res.headers["content-encoding"];
      const decoder = coding === "br" ? zlib.createBrotliDecompress() : zlib.createGunzip();
      let text = "";
      decoder.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        onText(text);
      });
      decoder.on("end", () => resolve({ headers: res.headers, text }));
      decoder.on("error", reject);
      res.pipe(decoder);
    });
    req.on("error", reject);
    req.end();
  });
}

for (const coding of ["gzip", "br"]) {
  test(`streamed (${coding}): a held upstream response reaches the client, decodable, before it ends`, async (t) => {
    const up = await startEcho(t);
    const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, compression: { minLength: 0 } } }));
    const name = `held-${coding}`;
    let released = false;
    const result = await streamDecoded(`${url}/hold/${name}`, coding, (text) => {
      // "first\n" decoded while the upstream still holds the rest: only then is it released.
      if (!released && text === "first\n") {
        released = true;
        assert.ok(up.release(name), "the upstream was still holding the response");
      }
    });
    assert.equal(result.headers["content-encoding"], coding);
    assert.ok(released, "the first chunk arrived decoded before the end");
    assert.equal(result.text, "first\nlast\n");
  });
}

test("a client that goes away mid-stream frees the encoder; the gateway keeps serving", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, compression: { minLength: 0 } } }));
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${url}/hold/gone`, { headers: { "Accept-Encoding": "gzip" }, agent: false }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", () => undefined);
    req.once("error", reject);
    req.end();
  });
  await new Promise((resolve) => up.events.once("aborted", resolve));
  const after = await request(`${url}/anything`, { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(JSON.parse(decode("gzip", after.body).toString()).path, "/anything");
});
