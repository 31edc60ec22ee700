/**
 * The client address over real sockets (trustedProxies, as nginx's realip): the same address in
 * ctx.request.ip, $remote_addr, X-Real-IP and RouteTable.clientAddress; X-Forwarded-For appends
 * the socket's peer. Clients connect from 127.0.0.1 or 127.0.0.2 (both loopback on Linux), so
 * one is a trusted proxy and the other is not.
 */
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { type TestContext, test } from "node:test";
import type { PorticoConfig } from "../../src/config/schema.js";
import { sourceFromObject } from "../../src/config/source.js";
import { validateConfig } from "../../src/config/validate.js";
import { checkConfig } from "../../src/gateway.js";
import type { EchoRecord } from "../fixtures/echo-upstream.js";
import { singleHost, startEcho, startGateway } from "../helpers/gateway.js";

/** A GET from a chosen local address; resolves with status, headers and body text. */
function getFrom(
  localAddress: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, localAddress, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function seen(records: EchoRecord[]): EchoRecord {
  const record = records.at(-1);
  assert.ok(record, "the upstream saw no request");
  return record;
}

const ipHook = "return { ip: ctx.request.ip }";

async function setup(t: TestContext, top: Omit<PorticoConfig, "virtualHosts">) {
  const up = await startEcho(t);
  const gateway = await startGateway(
    t,
    singleHost(
      {
        "/proxy/": { proxyPass: `${up.origin}/`, recommendedProxySettings: true },
        "/plugin/": { proxyPass: `${up.origin}/`, recommendedProxySettings: true, access: "ctx.store.set('seen', true)" },
        "/ip": { content: ipHook },
        "/var": { return: "200 $remote_addr|$realip_remote_addr" },
      },
      top,
    ),
  );
  return { up, ...gateway };
}

test("without trustedProxies, X-Forwarded-For is never believed: the peer is the client everywhere", async (t) => {
  const { up, url } = await setup(t, {});
  const spoof = { "X-Forwarded-For": "6.6.6.6" };
  assert.deepEqual(JSON.parse((await getFrom("127.0.0.2", `${url}/ip`, spoof)).text), { ip: "127.0.0.2" });
  assert.equal((await getFrom("127.0.0.2", `${url}/var`, spoof)).text, "127.0.0.2|127.0.0.2");
  await getFrom("127.0.0.2", `${url}/proxy/anything`, spoof);
  assert.equal(seen(up.seen).headers["x-real-ip"], "127.0.0.2");
  assert.equal(seen(up.seen).headers["x-forwarded-for"], "6.6.6.6, 127.0.0.2", "nginx's $proxy_add_x_forwarded_for: the client's list plus the peer");
});

test("a spoofed X-Forwarded-For from an untrusted peer is ignored; a trusted proxy's is believed", async (t) => {
  const { up, url } = await setup(t, { trustedProxies: ["127.0.0.1"] });
  const spoof = { "X-Forwarded-For": "6.6.6.6" };
  // 127.0.0.2 is not trusted: its header is a lie as far as we know.
  assert.deepEqual(JSON.parse((await getFrom("127.0.0.2", `${url}/ip`, spoof)).text), { ip: "127.0.0.2" });
  await getFrom("127.0.0.2", `${url}/plugin/anything`, spoof);
  assert.equal(seen(up.seen).headers["x-real-ip"], "127.0.0.2");

  // 127.0.0.1 is our proxy: the client is the address it reports.
  assert.deepEqual(JSON.parse((await getFrom("127.0.0.1", `${url}/ip`, spoof)).text), { ip: "6.6.6.6" });
  assert.equal((await getFrom("127.0.0.1", `${url}/var`, spoof)).text, "6.6.6.6|127.0.0.1", "$realip_remote_addr keeps the peer");
  for (const path of ["/proxy/anything", "/plugin/anything"]) {
    await getFrom("127.0.0.1", `${url}${path}`, { "X-Forwarded-For": "1.1.1.1, 6.6.6.6" });
    const record = seen(up.seen);
    assert.equal(record.headers["x-real-ip"], "6.6.6.6", `${path}: X-Real-IP is the resolved client`);
    assert.equal(record.headers["x-forwarded-for"], "1.1.1.1, 6.6.6.6, 127.0.0.1", `${path}: X-Forwarded-For appends the socket's peer`);
  }
});

test("RouteTable.clientAddress resolves as the request path does (for the access log)", async (t) => {
  const top = { trustedProxies: ["127.0.0.0/8"], realIpHeader: "X-Real-IP" };
  const { url, gw } = await setup(t, top);
  assert.deepEqual(JSON.parse((await getFrom("127.0.0.2", `${url}/ip`, { "X-Real-IP": "2001:db8::7" })).text), { ip: "2001:db8::7" });
  const response = await gw.inject({ url: "/ip", headers: { "x-real-ip": "9.9.9.9" } });
  assert.deepEqual(JSON.parse(response.body), { ip: "9.9.9.9" }, "inject's 127.0.0.1 is trusted too");

  const { table } = await checkConfig(singleHost({ "/": { return: "200" } }, top));
  const fake = (peer: string, headers: Record<string, string>) => ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;
  assert.equal(table.clientAddress(fake("127.0.0.9", { "x-real-ip": "2001:db8::7" })), "2001:db8::7");
  assert.equal(table.clientAddress(fake("192.0.2.1", { "x-real-ip": "2001:db8::7" })), "192.0.2.1");
  const { table: plain } = await checkConfig(singleHost({ "/": { return: "200" } }));
  assert.equal(plain.clientAddress(fake("192.0.2.1", { "x-forwarded-for": "1.2.3.4" })), "192.0.2.1");
});

test("trustedProxies and realIpHeader are validated with positions", () => {
  const source = sourceFromObject({ trustedProxies: ["10.0.0.0/8", "10.0.0.0/40", "proxy.local"], realIpHeader: "X Bad", virtualHosts: {} });
  assert.throws(
    () => validateConfig(source, [], {}),
    (error: Error) =>
      /trustedProxies\[1\] .*prefix length must be 0-32/.test(error.message) &&
      /trustedProxies\[2\] .*not an IPv4/.test(error.message) &&
      /realIpHeader +not a valid header name/.test(error.message),
  );
});
