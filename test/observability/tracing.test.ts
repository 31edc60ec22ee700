import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import type { Gateway } from "../../src/gateway.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

/** A small OTLP/HTTP receiver: records the spans of every POST /v1/traces (JSON encoding). */
async function startReceiver(t: TestContext): Promise<{ url: string; spans: OtlpSpan[]; contentTypes: string[] }> {
  const spans: OtlpSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        contentTypes.push(String(req.headers["content-type"]));
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans: Array<{ resource: unknown; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, contentTypes };
}

/** The span ends when the response closes on the server (maybe just after the client read it): flush until it is exported. */
async function exported(gw: Gateway, spans: OtlpSpan[], traceId: string): Promise<OtlpSpan | undefined> {
  return waitFor(`the span of trace ${traceId}`, async () => {
    await gw.flushLogs();
    return spans.find((s) => s.traceId === traceId);
  });
}

const attr = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value ? (value.stringValue ?? value.intValue ?? value.boolValue) : undefined;
};

test("a client's traceparent continues: the upstream gets our span as parent, and the span is exported", async (t) => {
  const receiver = await startReceiver(t);
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost({ "/api/": { proxyPass: `${echo.origin}/` } }, { tracing: { otlpEndpoint: receiver.url, serviceName: "edge" } }),
  );
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const parent = "b7ad6b7169203331";
  const res = await request(`${url}/api/headers`, { headers: { traceparent: `00-${traceId}-${parent}-01` } });
  assert.equal(res.status, 200);
  const seen = echo.seen.at(-1)?.headers.traceparent;
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen));
  assert.ok(match, `upstream traceparent: ${seen}`);
  assert.equal(match[1], traceId);
  assert.notEqual(match[2], parent);

  const span = await exported(gw, receiver.spans, traceId);
  assert.ok(span, "the span reached the receiver");
  assert.equal(span.parentSpanId, parent);
  assert.equal(span.spanId, match[2]);
  assert.equal(span.kind, 2 /* SERVER */);
  assert.equal(span.name, "GET /api/");
  assert.equal(Number(attr(span, "http.response.status_code")), 200);
  assert.equal(attr(span, "http.route"), "/api/");
  assert.equal(Number(attr(span, "portico.upstream.status_code")), 200);
  assert.match(receiver.contentTypes[0] ?? "", /application\/json/);
});

test("without a traceparent a trace is started; with sampleRatio 0 it is propagated unsampled and not exported", async (t) => {
  const receiver = await startReceiver(t);
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(t, singleHost({ "/a/": { proxyPass: `${echo.origin}/` } }, { tracing: { otlpEndpoint: receiver.url } }));
  await request(`${url}/a/anything`);
  const started = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(echo.seen.at(-1)?.headers.traceparent));
  assert.ok(started);
  const span = await exported(gw, receiver.spans, started[1] as string);
  assert.ok(span);
  assert.equal(span.parentSpanId ?? "", "");

  await gw.reload(singleHost({ "/a/": { proxyPass: `${echo.origin}/` } }, { tracing: { otlpEndpoint: receiver.url, sampleRatio: 0 } }));
  const before = receiver.spans.length;
  await request(`${url}/a/anything`);
  const unsampled = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(echo.seen.at(-1)?.headers.traceparent));
  assert.ok(unsampled, String(echo.seen.at(-1)?.headers.traceparent));
  await gw.flushLogs();
  assert.equal(receiver.spans.length, before);
});

test("without tracing, a client's traceparent passes through untouched", async (t) => {
  const echo = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: `${echo.origin}/` } }));
  const header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  await request(`${url}/x`, { headers: { traceparent: header } });
  assert.equal(echo.seen.at(-1)?.headers.traceparent, header);
});
