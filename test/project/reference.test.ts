/**
 * The OpenResty reference setup (issue 2), served from examples/reference/portico.yaml over a
 * real socket, against the echo upstream: what OpenResty answers, Portico answers.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createGateway, type Gateway } from "../../src/index.js";
import { type EchoUpstream, startEchoUpstream } from "../fixtures/echo-upstream.js";

const CONFIG = fileURLToPath(new URL("../../examples/reference/portico.yaml", import.meta.url));

let upstream: EchoUpstream;
let gateway: Gateway;
let base: string;

before(async () => {
  upstream = await startEchoUpstream();
  const env = { ...process.env, PORT: "127.0.0.1:0", UPSTREAM_URL: `${upstream.origin}/`, PORTICO_LOG_LEVEL: "silent" };
  gateway = await createGateway(CONFIG, { env });
  const [address] = await gateway.listen();
  assert.ok(address);
  base = address.url;
});

after(async () => {
  await gateway.close();
  await upstream.close();
});

/** A plain node:http request, so that headers are seen exactly as sent. */
function call(
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; rawHeaders: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent: false, headers: { connection: "keep-alive" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("GET / answers like nginx's return 200 'Hello World!'", async () => {
  const res = await call("GET", "/");
  assert.equal(res.status, 200);
  assert.equal(res.body, "Hello World!");
  assert.equal(res.headers["content-type"], "application/octet-stream");
  assert.equal(res.headers["content-length"], "12");
  assert.equal(res.headers.server, "portico");
  assert.match(String(res.headers.date), /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.equal(res.headers.connection, "keep-alive");
});

test("GET /version runs the content hook with the location's defaultType", async () => {
  const res = await call("GET", "/version");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "application/json");
  assert.equal(res.body, '{"version":"0.0.1"}\n');
  assert.equal(res.headers.server, "portico");
});

test("GET /proxy/anything/hello/world goes upstream as nginx sends it", async () => {
  const before = upstream.seen.length;
  const res = await call("GET", "/proxy/anything/hello/world");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "application/json");
  assert.equal(res.headers.server, "portico", "the upstream's Server header is replaced");
  const seen = upstream.seen[before];
  assert.ok(seen);
  // location /proxy + proxy_pass http://host/ : "/proxy" is replaced by "/", so nginx sends "//anything/…".
  assert.equal(seen.url, "//anything/hello/world");
  assert.equal(seen.headers.host, `127.0.0.1:${upstream.port}`, "Host is nginx's $proxy_host");
  assert.equal(JSON.parse(res.body).url, "//anything/hello/world", "the upstream's body is passed through");
});

test("POST /proxy/rewrite/anything: the longest prefix wins and the header filter turns 200 into 201", async () => {
  const before = upstream.seen.length;
  const res = await call("POST", "/proxy/rewrite/anything", "name=portico");
  assert.equal(res.status, 201);
  const seen = upstream.seen[before];
  assert.equal(seen?.method, "POST");
  assert.equal(seen?.url, "//anything");
  assert.equal(seen?.body, "name=portico");
});

test("GET /proxy/rewrite/anything keeps the upstream's 200 (only POST is rewritten)", async () => {
  const res = await call("GET", "/proxy/rewrite/anything");
  assert.equal(res.status, 200);
});

test("the same config answers through inject() without a port", async () => {
  const res = await gateway.inject({ url: "/" });
  assert.equal(res.status, 200);
  assert.equal(res.body, "Hello World!");
  const proxied = await gateway.inject({ method: "POST", url: "/proxy/rewrite/anything", body: { a: 1 } });
  assert.equal(proxied.status, 201);
  assert.equal(proxied.json<{ body: string }>().body, '{"a":1}');
});
