/**
 * What goes wrong upstream, as nginx answers it: 502 when the upstream cannot be reached or
 * breaks the exchange, 504 on timeouts, a JSON body `{ message, requestId }` from the gateway,
 * and a gateway that keeps serving. A client that hangs up makes the gateway drop the upstream
 * request too.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { startBlackhole } from "../helpers/blackhole.js";
import { closedPort, errorBody, type HttpResult, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/logs.js";
import { HANG_MS, waitFor } from "../helpers/wait.js";

const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
/** A hang guard only, generous on a busy machine: what a test waits for is an answer or an event. */
const BOUNDED = { timeout: HANG_MS };

function assertGatewayError(res: HttpResult, status: number, message: string): void {
  assert.equal(res.status, status);
  assert.equal(res.headers.server, "portico");
  assert.match(String(res.headers.date), HTTP_DATE);
  const body = errorBody(res);
  assert.equal(body.message, message);
  assert.match(body.requestId, /^[0-9a-z]+-[0-9a-z]+$/);
  assert.deepEqual(Object.keys(body).sort(), ["message", "requestId"], "no detail leaks to the client");
}

test("a dead upstream gives 502 with { message, requestId }, and the gateway keeps serving", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const dead = await closedPort();
  const { url } = await startGateway(t, singleHost({ "/dead/": { proxyPass: `http://127.0.0.1:${dead}/` }, "/": { proxyPass: up.origin } }));
  const first = await request(`${url}/dead/x`);
  assertGatewayError(first, 502, "Bad Gateway");
  const second = await request(`${url}/dead/x`, { method: "POST", body: "payload" });
  assertGatewayError(second, 502, "Bad Gateway");
  assert.notEqual(errorBody(first).requestId, errorBody(second).requestId, "each error has its own request id");
  const ok = await request(`${url}/anything`);
  assert.equal(ok.status, 200);
});

test("an upstream that resets the connection, or answers garbage, gives 502", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  assertGatewayError(await request(`${url}/reset`), 502, "Bad Gateway");
  assertGatewayError(await request(`${url}/garbage`), 502, "Bad Gateway");
  assertGatewayError(await request(`${url}/reset`, { method: "POST", body: "x".repeat(1000) }), 502, "Bad Gateway");
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test("an upstream that dies mid-body makes the gateway cut the client connection, not end it cleanly", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const outcome = await new Promise<string>((resolve) => {
    httpRequest(`${url}/truncate`, { agent: false }, (res) => {
      let received = 0;
      res.on("data", (chunk: Buffer) => (received += chunk.length));
      res.on("end", () => resolve(`ended after ${received} bytes`));
      res.on("aborted", () => resolve("aborted"));
      res.on("error", () => resolve("aborted"));
    })
      .on("error", () => resolve("aborted"))
      .end();
  });
  assert.equal(outcome, "aborted", "a truncated body is never passed off as a whole one");
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test('proxyReadTimeout "200ms" against an upstream that never answers gives 504, and the upstream request is dropped', BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, proxyReadTimeout: "200ms" } }));
  const aborted = once(up.events, "aborted");
  // 10 minutes: the upstream's answer can never come before the 200 ms timeout, however slow the machine.
  assertGatewayError(await request(`${url}/delay/600000`), 504, "Gateway Timeout");
  await aborted;
  assert.equal(up.aborted, 1);
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test("proxyReadTimeout also bounds the wait between two body chunks: a stalled body is cut", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, proxyReadTimeout: "200ms" } }));
  const aborted = once(up.events, "aborted");
  // /hold sends its first chunk and then nothing until released: the headers went out, so the cut is the answer.
  const outcome = await new Promise<string>((resolve) => {
    httpRequest(`${url}/hold/stalled`, { agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk));
      res.on("end", () => resolve(`ended: ${body}`));
      res.on("aborted", () => resolve(`aborted after ${JSON.stringify(body)}`));
      res.on("error", () => resolve(`aborted after ${JSON.stringify(body)}`));
    })
      .on("error", () => resolve("request error"))
      .end();
  });
  assert.equal(outcome, 'aborted after "first\\n"');
  await aborted;
});

test('proxyConnectTimeout "200ms" to a server that never accepts gives 504', BOUNDED, async (t) => {
  const port = await startBlackhole(t);
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({ "/slow/": { proxyPass: `http://127.0.0.1:${port}/`, proxyConnectTimeout: "200ms" }, "/": { proxyPass: up.origin } }),
  );
  assertGatewayError(await request(`${url}/slow/x`), 504, "Gateway Timeout");
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test("every server of an upstream group down gives 502", BOUNDED, async (t) => {
  const [a, b] = [await closedPort(), await closedPort()];
  const { url } = await startGateway(
    t,
    singleHost({ "/": { proxyPass: "http://pair" } }, { upstreams: { pair: { servers: [`127.0.0.1:${a}`, `127.0.0.1:${b}`] } } }),
  );
  for (let i = 0; i < 3; i++) assertGatewayError(await request(`${url}/x`), 502, "Bad Gateway");
});

test("one server of a group down: requests go to the other (nginx proxy_next_upstream error)", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const dead = await closedPort();
  const { url } = await startGateway(
    t,
    singleHost({ "/": { proxyPass: "http://pair" } }, { upstreams: { pair: { servers: [`127.0.0.1:${dead}`, `127.0.0.1:${up.port}`] } } }),
  );
  for (let i = 0; i < 4; i++) {
    const res = await request(`${url}/anything/${i}`, i % 2 === 0 ? {} : { method: "POST", body: `body ${i}` });
    assert.equal(res.status, 200, `request ${i}`);
  }
  // A streamed (chunked) body is not read before a connection exists, so it can go to the next server too.
  const chunked = await request(`${url}/anything/4`, { method: "POST", headers: { "Transfer-Encoding": "chunked" }, body: "streamed" });
  assert.equal(chunked.status, 200);
  assert.deepEqual(
    up.seen.map((seen) => [seen.url, seen.body ?? null]),
    [
      ["/anything/0", null],
      ["/anything/1", "body 1"],
      ["/anything/2", null],
      ["/anything/3", "body 3"],
      ["/anything/4", "streamed"],
    ],
  );
});

test("a server of a group that does not accept in time: the request goes to the next (proxy_next_upstream timeout)", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const hole = await startBlackhole(t);
  const { url } = await startGateway(
    t,
    singleHost(
      { "/": { proxyPass: "http://pair", proxyConnectTimeout: "200ms" } },
      { upstreams: { pair: { servers: [`127.0.0.1:${hole}`, `127.0.0.1:${up.port}`] } } },
    ),
  );
  const res = await request(`${url}/anything/once`);
  assert.equal(res.status, 200);
  assert.equal(up.seen.at(-1)?.url, "/anything/once");
});

/** Starts a request and resolves once its response has begun (headers and the first chunk). */
async function started(url: string): Promise<{ res: IncomingMessage; destroy: () => void }> {
  const req = httpRequest(url, { agent: false });
  req.on("error", () => undefined);
  req.end();
  const [res] = (await once(req, "response")) as [IncomingMessage];
  await once(res, "data");
  return { res, destroy: () => req.destroy() };
}

test("a client that hangs up mid-response makes the gateway abort the upstream request", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  for (const path of ["/drip?n=1000&interval=10", "/hold/hang-up", `/bytes/${64 * 1024 * 1024}`]) {
    const { destroy } = await started(`${url}${path}`);
    const aborted = once(up.events, "aborted");
    destroy();
    await aborted;
  }
  assert.equal(up.aborted, 3);
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test("a client that hangs up before the upstream answered makes the gateway abort the upstream request", BOUNDED, async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const req = httpRequest(`${url}/delay/600000`, { agent: false });
  req.on("error", () => undefined);
  const arrived = once(up.events, "request");
  req.end();
  await arrived;
  const aborted = once(up.events, "aborted");
  req.destroy();
  await aborted;
  assert.equal((await request(`${url}/anything`)).status, 200);
});

test('proxySendTimeout "300ms": an upstream that stops reading the request body gives 504; a slow client does not', BOUNDED, async (t) => {
  // An upstream that accepts and never reads: once the socket buffers are full, undici pauses the body.
  const sockets = new Set<Socket>();
  const deaf = createServer((socket) => {
    sockets.add(socket);
    socket.pause();
  });
  await new Promise<void>((resolve) => deaf.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    deaf.close();
  });
  const deafPort = (deaf.address() as AddressInfo).port;
  const up = await startEcho(t);
  const { logger, lines } = captureLogs();
  const { url } = await startGateway(
    t,
    singleHost(
      {
        // The read timeout far away: a 504 here can only be the send timeout's (the log line says which).
        "/deaf/": { proxyPass: `http://127.0.0.1:${deafPort}/`, proxySendTimeout: "300ms", proxyReadTimeout: "1h", clientMaxBodySize: 0 },
        "/slow/": { proxyPass: `${up.origin}/`, proxySendTimeout: "300ms" },
      },
      {
        // After its 504 the gateway neither reads the rest of the upload nor closes the connection:
        // at the end of the test, its close would wait the whole default 10 s drain for it.
        shutdownTimeout: "100ms",
      },
    ),
    { logger },
  );

  // 64 MiB offered as fast as the gateway takes it: far more than the loopback buffers hold.
  const res = await new Promise<HttpResult | "cut">((resolve) => {
    const req = httpRequest(`${url}/deaf/count`, { method: "POST", headers: { "content-length": String(64 * 1024 * 1024) } }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, text: Buffer.concat(chunks).toString() } as HttpResult));
    });
    req.on("error", () => resolve("cut"));
    const chunk = Buffer.alloc(64 * 1024, "x");
    let left = 1024;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!req.write(chunk)) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  assert.notEqual(res, "cut", "the client gets an answer, not a reset");
  assertGatewayError(res as HttpResult, 504, "Gateway Timeout");
  const requestId = errorBody(res as HttpResult).requestId;
  const logged = await waitFor("the error log line", () => lines.find((line) => line.requestId === requestId));
  assert.equal(logged?.code, "PTC_ERR_UPSTREAM_TIMEOUT", JSON.stringify(logged));
  assert.equal((logged?.err as { code?: string } | undefined)?.code, "PTC_UPSTREAM_SEND_TIMEOUT", "cut by proxySendTimeout, no other timer");

  // A client that pauses longer than the send timeout between two chunks is not the upstream's fault.
  const slow = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${url}/slow/count`, { method: "POST", headers: { "content-length": "10" } }, (incoming) => {
      incoming.resume();
      incoming.on("end", () => resolve(incoming.statusCode ?? 0));
    });
    req.on("error", reject);
    req.write("hello");
    setTimeout(() => req.end("world"), 600);
  });
  assert.equal(slow, 200);
});
