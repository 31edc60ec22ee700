import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { stringify } from "yaml";
import { ConfigError } from "../../src/errors.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { maskConfig } from "../../src/server/admin-api.js";
import { closedPort, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

const TOKEN = "a-long-admin-token-0123456789";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-admin-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function adminUrl(gw: Gateway): string {
  const admin = gw.adminAddress();
  assert.ok(admin, "the admin listener is open");
  return admin.url;
}

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

test("schema: an admin listener off loopback needs a token; a short token is refused", async () => {
  await assert.rejects(
    createGateway(singleHost({ "/": { return: 200 } }, { admin: { listen: "0.0.0.0:0" } })),
    (error: unknown) => error instanceof ConfigError && /admin\.listen.*off loopback/.test(error.message),
  );
  await assert.rejects(
    createGateway(singleHost({ "/": { return: 200 } }, { admin: { listen: "127.0.0.1:0", token: "short" } })),
    (error: unknown) => error instanceof ConfigError && /admin\.token/.test(error.message),
  );
  const gw = await createGateway(singleHost({ "/": { return: 200 } }, { admin: { listen: "0.0.0.0:0", token: TOKEN } }));
  await gw.close();
});

test("maskConfig masks secrets, keeps *File paths, and hides URL passwords", () => {
  assert.deepEqual(
    maskConfig({
      admin: { token: "t0ken", tokenFile: "/run/secrets/admin" },
      redis: { url: "redis://user:hunter2@127.0.0.1:6379/0" },
      consumers: { alice: { keys: ["k1", "k2"], password: "p" } },
      vars: { clientSecret: "s", plain: "visible", apiKey: "k" },
      virtualHosts: { x: { locations: { "/key": { return: 200 } } } },
    }),
    {
      admin: { token: "********", tokenFile: "/run/secrets/admin" },
      redis: { url: "redis://user:********@127.0.0.1:6379/0" },
      consumers: { alice: { keys: ["********", "********"], password: "********" } },
      vars: { clientSecret: "********", plain: "visible", apiKey: "********" },
      virtualHosts: { x: { locations: { "/key": { return: 200 } } } },
    },
  );
});

test("health, readiness, token, and the read-only API: config, routes, explain, upstreams, stats", async (t) => {
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      {
        "/": { return: "200 'hello'" },
        "/api/": { proxyPass: "http://backend/" },
      },
      {
        admin: { listen: "127.0.0.1:0", token: TOKEN },
        upstreams: { backend: { servers: [`127.0.0.1:${echo.port}`] } },
        vars: { dbPassword: "hunter2" },
      },
    ),
  );
  const admin = adminUrl(gw);
  const auth = { authorization: `Bearer ${TOKEN}` };

  assert.equal((await request(`${admin}/healthz`)).status, 200);
  assert.equal((await request(`${admin}/readyz`)).status, 200);
  const refused = await request(`${admin}/api/stats`);
  assert.equal(refused.status, 401);
  assert.equal(refused.headers["www-authenticate"], 'Bearer realm="portico-admin"');
  assert.equal(json(refused.text).code, "PTC_ERR_ADMIN_UNAUTHORIZED");
  assert.equal((await request(`${admin}/api/stats`, { headers: { authorization: "Bearer wrong" } })).status, 401);
  assert.equal((await request(`${admin}/metrics`)).status, 401);

  for (let i = 0; i < 4; i++) await request(`${url}/`);
  await request(`${url}/api/status/500`);
  // Counted when each response closes on the server, which may be just after the client read it.
  await waitFor("5 requests counted", () => (gw.observability.stats.snapshot().total >= 5 ? true : undefined));

  const config = json((await request(`${admin}/api/config`, { headers: auth })).text) as { admin: { token: string }; vars: { dbPassword: string } };
  assert.equal(config.admin.token, "********");
  assert.equal(config.vars.dbPassword, "********");

  const routes = json((await request(`${admin}/api/routes`, { headers: auth })).text) as { locations: Array<{ key: string; virtualHost: string }> };
  assert.deepEqual(
    routes.locations.map((l) => `${l.virtualHost} ${l.key}`),
    ["localhost /", "localhost /api/"],
  );

  const explained = json((await request(`${admin}/api/routes/explain?method=POST&url=/api/users?id=1`, { headers: auth })).text) as {
    location: { key: string };
    upstreamUrl: string;
  };
  assert.equal(explained.location.key, "/api/");
  assert.equal(explained.upstreamUrl, "http://backend/users?id=1");
  assert.equal((await request(`${admin}/api/routes/explain`, { headers: auth })).status, 400);

  const upstreams = json((await request(`${admin}/api/upstreams`, { headers: auth })).text) as {
    upstreams: Array<{ name: string; servers: Array<{ address: string; healthy: boolean }> }>;
  };
  const backend = upstreams.upstreams.find((u) => u.name === "backend");
  assert.deepEqual(
    backend?.servers.map((s) => [s.address, s.healthy]),
    [[`127.0.0.1:${echo.port}`, true]],
  );

  const stats = json((await request(`${admin}/api/stats`, { headers: auth })).text) as {
    total: number;
    statusMix: Record<string, number>;
    latency: { p50: number; p99: number };
    series: number[];
  };
  assert.equal(stats.total, 5);
  assert.equal(stats.statusMix["2xx"], 4);
  assert.equal(stats.statusMix["5xx"], 1);
  assert.equal(stats.series.length, 60);
  assert.ok(stats.latency.p50 > 0 && stats.latency.p99 >= stats.latency.p50);

  // Read-only by default.
  const reload = await request(`${admin}/api/reload`, { method: "POST", headers: auth });
  assert.equal(reload.status, 403);
  assert.equal(json(reload.text).code, "PTC_ERR_ADMIN_READ_ONLY");
  assert.equal((await request(`${admin}/api/nothing`, { headers: auth })).status, 404);
});

test("/readyz answers 503 while the gateway shuts down", async (t) => {
  const echo = await startEcho(t);
  // No drain deadline to race: the request stays in flight until the test releases it.
  const gw = await createGateway(singleHost({ "/": { proxyPass: echo.origin } }, { admin: { listen: "127.0.0.1:0" }, shutdownTimeout: "10m" }), {
    logger: (await import("pino")).pino({ level: "silent" }),
  });
  const [address] = await gw.listen();
  const admin = adminUrl(gw);
  const slow = request(`${address?.url}/hold/ready`);
  await new Promise<void>((resolve) => echo.events.once("request", () => resolve()));
  const closing = gw.close();
  const ready = await request(`${admin}/readyz`);
  assert.equal(ready.status, 503);
  assert.ok(echo.release("ready"), "the request was still in flight");
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal(answer.text, "first\nlast\n");
  await closing;
});

test("/api/errors shows recent warnings and errors of the gateway's own log, redacted", async (t) => {
  const dir = await tempDir(t);
  const port = await closedPort();
  const gw = await createGateway(
    singleHost({ "/": { proxyPass: `http://127.0.0.1:${port}` } }, { admin: { listen: "127.0.0.1:0" }, errorLog: { path: path.join(dir, "error.log") } }),
  );
  t.after(() => gw.close());
  const [address] = await gw.listen();
  await request(`${address?.url}/x?api_key=s3cr3t`);
  const body = json((await request(`${adminUrl(gw)}/api/errors`)).text) as { errors: Array<{ code: string; url: string; level: string }> };
  const error = body.errors.find((e) => e.code === "PTC_ERR_UPSTREAM_UNAVAILABLE");
  assert.ok(error);
  assert.equal(error.level, "error");
  assert.equal(error.url, "/x?api_key=[REDACTED]");
});

test("allowWrites: reload, PUT /api/config writes the file (validated first), purge", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "portico.yaml");
  const config = (text: string) => ({
    listen: "127.0.0.1:0",
    admin: { listen: "127.0.0.1:0", allowWrites: true },
    virtualHosts: { localhost: { default: true, locations: { "/": { return: `200 '${text}'` } } } },
  });
  await writeFile(file, stringify(config("one")));
  const { pino } = await import("pino");
  const gw = await createGateway(file, { logger: pino({ level: "silent" }) });
  t.after(() => gw.close());
  const [address] = await gw.listen();
  const admin = adminUrl(gw);
  assert.equal((await request(`${address?.url}/`)).text, "one");

  // The file changed on disk: reload takes it.
  const adminPort = Number(new URL(admin).port);
  await writeFile(file, stringify({ ...config("two"), admin: { listen: `127.0.0.1:${adminPort}`, allowWrites: true } }));
  const reloaded = await request(`${admin}/api/reload`, { method: "POST" });
  assert.equal(reloaded.status, 200);
  assert.equal((await request(`${address?.url}/`)).text, "two");

  // An invalid config is refused and the file stays as it was.
  const before = await readFile(file, "utf8");
  const bad = await request(`${admin}/api/config`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ virtualHosts: { localhost: { locations: { "/": { retrun: 200 } } } } }),
  });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /retrun/);
  assert.equal(await readFile(file, "utf8"), before);

  const good = await request(`${admin}/api/config`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...config("three"), admin: { listen: `127.0.0.1:${adminPort}`, allowWrites: true } }),
  });
  assert.equal(good.status, 200, good.text);
  assert.match(await readFile(file, "utf8"), /three/);
  assert.equal((await request(`${address?.url}/`)).text, "three");

  // Cache purge: refused without a key or prefix, done with one (no cache zone here: nothing purged).
  const vague = await request(`${admin}/api/cache/purge`, { method: "POST", body: "{}" });
  assert.equal(vague.status, 400);
  assert.equal(json(vague.text).code, "PTC_ERR_ADMIN_BAD_REQUEST");
  const purge = await request(`${admin}/api/cache/purge`, { method: "POST", body: JSON.stringify({ prefix: "/" }) });
  assert.equal(purge.status, 200);
  assert.deepEqual(json(purge.text), { purged: 0, zones: [] });
});
