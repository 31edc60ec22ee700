/**
 * ipRestriction: the schema's edge cases, then allow/deny over inject() and real sockets, the
 * client address from trustedProxies, and path tricks that must not reach a protected location.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { type TestContext, test } from "node:test";
import type { PorticoConfig } from "../../../src/config/schema.js";
import { createGateway } from "../../../src/gateway.js";
import { ipRestrictionSchema } from "../../../src/plugins/ip-restriction/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

test("schema: defaults, CIDR checks, and at least one list", () => {
  const parsed = ipRestrictionSchema.parse({ deny: ["10.0.0.0/8"] });
  assert.deepEqual(parsed, { allow: [], deny: ["10.0.0.0/8"], status: 403, message: "Your IP address is not allowed" });
  assert.equal(ipRestrictionSchema.safeParse({}).success, false, "neither list: a mistake, refused");
  assert.equal(ipRestrictionSchema.safeParse({ allow: [], deny: [] }).success, false);
  assert.equal(ipRestrictionSchema.safeParse({ allow: ["::1", "2001:db8::/32", "127.0.0.1"] }).success, true);
  const bad = ipRestrictionSchema.safeParse({ allow: ["10.0.0.0/8", "10.0.0.0/33", "host.example"] });
  assert.equal(bad.success, false);
  assert.deepEqual(
    bad.error?.issues.map((issue) => issue.path.join(".")),
    ["allow.1", "allow.2"],
  );
  assert.equal(ipRestrictionSchema.safeParse({ deny: ["1.2.3.4"], status: 200 }).success, false, "a refusal is 4xx/5xx");
  assert.equal(ipRestrictionSchema.safeParse({ deny: ["1.2.3.4"], whitelist: ["1.2.3.4"] }).success, false, "unknown fields are refused");
});

async function gatewayFor(t: TestContext, config: PorticoConfig) {
  const logs = captureLogs();
  const gw = await createGateway(config, { logger: logs.logger });
  t.after(() => gw.close());
  return { gw, logs };
}

test("deny wins over allow; a non-empty allow refuses everyone else; IPv4, IPv6 and mapped clients", async (t) => {
  const { gw, logs } = await gatewayFor(
    t,
    singleHost({
      "/": { return: "200 'ok'", ipRestriction: { allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.6.6.0/24"] } },
      "/deny-only": { return: "200 'ok'", ipRestriction: { deny: ["192.0.2.0/24", "::1"] } },
      "/open": { return: "200 'open'", ipRestriction: false },
    }),
  );
  const at = async (url: string, remoteAddress: string) => (await gw.inject({ url, remoteAddress })).status;
  assert.equal(await at("/", "10.1.2.3"), 200);
  assert.equal(await at("/", "::ffff:10.1.2.3"), 200, "a dual-stack socket's mapped form");
  assert.equal(await at("/", "2001:db8::1"), 200);
  assert.equal(await at("/", "10.6.6.6"), 403, "on deny, although inside allow");
  assert.equal(await at("/", "11.0.0.1"), 403, "not on allow");
  assert.equal(await at("/", "2001:db9::1"), 403);
  assert.equal(await at("/deny-only", "192.0.2.200"), 403);
  assert.equal(await at("/deny-only", "::1"), 403);
  assert.equal(await at("/deny-only", "198.51.100.1"), 200, "only deny: everyone else passes");
  assert.equal(await at("/open", "10.6.6.6"), 200, "false switches it off");

  const refused = await gw.inject({ url: "/", remoteAddress: "11.0.0.1" });
  const body = refused.json<{ message: string; requestId: string }>();
  assert.equal(body.message, "Your IP address is not allowed");
  assert.ok(body.requestId);
  const line = logs.lines.findLast((entry) => entry.code === "PTC_ERR_ACCESS_IP_DENIED" && entry.ip === "11.0.0.1");
  assert.ok(line, "the refusal is logged with its code and address");
  assert.equal(line.reason, "not on the allow list");
  assert.equal(line.requestId, body.requestId);
});

test("status and message are configurable; inherited from the virtual host and global level", async (t) => {
  const { gw } = await gatewayFor(t, {
    listen: "127.0.0.1:0",
    ipRestriction: { deny: ["0.0.0.0/0"], status: 404, message: "Not Found" },
    virtualHosts: {
      localhost: { default: true, locations: { "/": { return: "200 'ok'" }, "/health": { return: "200 'ok'", ipRestriction: false } } },
    },
  });
  const refused = await gw.inject({ url: "/", remoteAddress: "203.0.113.1" });
  assert.equal(refused.status, 404);
  assert.equal(refused.json<{ message: string }>().message, "Not Found");
  assert.equal((await gw.inject({ url: "/health", remoteAddress: "203.0.113.1" })).status, 200);
  assert.equal((await gw.inject({ url: "/", remoteAddress: "2001:db8::1" })).status, 200, "0.0.0.0/0 is IPv4 only");
});

/** A GET from a chosen loopback address, path sent byte for byte. */
function getFrom(localAddress: string, port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, localAddress, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

test("real sockets: the peer decides; a spoofed X-Forwarded-For from an untrusted peer changes nothing", async (t) => {
  const up = await startEcho(t);
  const { port } = await startGateway(
    t,
    singleHost({ "/admin": { proxyPass: up.origin, ipRestriction: { allow: ["127.0.0.1"] } } }, { trustedProxies: ["127.0.0.3"] }),
  );
  assert.equal(await getFrom("127.0.0.1", port, "/admin"), 200);
  assert.equal(await getFrom("127.0.0.2", port, "/admin"), 403);
  assert.equal(await getFrom("127.0.0.2", port, "/admin", { "X-Forwarded-For": "127.0.0.1" }), 403, "127.0.0.2 is no trusted proxy: its header is ignored");
  assert.equal(up.seen.length, 1, "refused requests never reach the upstream");
  // 127.0.0.3 is the trusted proxy: the client is whom it names.
  assert.equal(await getFrom("127.0.0.3", port, "/admin", { "X-Forwarded-For": "127.0.0.1" }), 200);
  assert.equal(await getFrom("127.0.0.3", port, "/admin", { "X-Forwarded-For": "127.0.0.1, 127.0.0.2" }), 403, "the rightmost untrusted hop is the client");
  assert.equal(await getFrom("127.0.0.3", port, "/admin"), 403, "the proxy itself is not allowed");
});

const TRICKS = [
  "/%61dmin",
  "/public/../admin",
  "//admin",
  "/admin/./x",
  "/public/%2e%2e/admin",
  "/public/%2E%2E%2Fadmin",
  "/%2Fadmin",
  "/public%2F..%2Fadmin",
  "/./admin",
];

for (const [label, key] of [
  ["prefix", "/admin"],
  ["^~ prefix", "^~ /admin"],
  ["regex", "~ ^/admin"],
  ["case-insensitive regex", "~* ^/admin"],
] as const) {
  test(`path tricks cannot reach a ${label} location protected by ipRestriction`, async (t) => {
    const up = await startEcho(t);
    const { url } = await startGateway(
      t,
      singleHost({
        "/": { proxyPass: up.origin },
        [key]: { proxyPass: up.origin, ipRestriction: { allow: ["10.0.0.0/8"] } },
      }),
    );
    for (const path of [...TRICKS, "/admin"]) {
      const res = await request(url, { path });
      assert.ok(res.status === 403 || res.status === 400, `${path}: expected 403 (or 400), got ${res.status} ${res.text.slice(0, 80)}`);
    }
    assert.deepEqual(
      up.seen.map((record) => record.path),
      [],
      "the upstream saw none of them",
    );
    // Case: nginx's prefix and ~ locations are case-sensitive, so /ADMIN is another resource that
    // the public location serves as it is; ~* protects it too.
    const upper = await request(url, { path: "/ADMIN" });
    if (key.startsWith("~*")) assert.equal(upper.status, 403);
    else {
      assert.equal(upper.status, 200);
      assert.equal(up.seen.at(-1)?.path, "/ADMIN");
    }
    // Double encoding decodes once, as in nginx: "/%2561dmin" is the path "/%61dmin", not "/admin".
    const double = await request(url, { path: "/%2561dmin" });
    assert.equal(double.status, 200);
    assert.equal(up.seen.at(-1)?.path, "/%2561dmin", "it goes upstream still encoded");
  });
}
