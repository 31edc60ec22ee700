import assert from "node:assert/strict";
import { mkdtemp, readFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { Gateway } from "../../src/gateway.js";
import { jsonLine } from "../../src/observability/access-log.js";
import { accessLogSettings } from "../../src/observability/index.js";
import { AccessRecord, redactUrl } from "../../src/observability/record.js";
import { closedPort, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

async function tempDir(t: import("node:test").TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-access-"));
  t.after(async () => {
    const { rm } = await import("node:fs/promises");
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function lines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * The record is written when the response closes on the server, which may come just after the
 * client has read the whole answer: wait (flushing) until `count` lines are there.
 */
async function waitForLines(gw: Gateway, file: string, count: number): Promise<Array<Record<string, unknown>>> {
  return waitFor(`${count} line(s) in ${file}`, async () => {
    await gw.flushLogs();
    const found = await lines(file);
    return found.length >= count ? found : undefined;
  });
}

test("accessLog settings: off by default, true is JSON to stdout, paths resolve against the config", () => {
  assert.equal(accessLogSettings({}, "/etc/portico"), null);
  assert.equal(accessLogSettings({ accessLog: false }, "/etc/portico"), null);
  assert.equal(accessLogSettings({ accessLog: { path: false } }, "/etc/portico"), null);
  assert.deepEqual(accessLogSettings({ accessLog: true }, "/etc/portico"), { format: "json", path: "stdout" });
  assert.deepEqual(accessLogSettings({ accessLog: { format: "combined", path: "logs/a.log" } }, "/etc/portico"), {
    format: "combined",
    path: "/etc/portico/logs/a.log",
  });
});

test("redactUrl masks secret-looking query values and keeps the rest", () => {
  assert.equal(redactUrl("/x"), "/x");
  assert.equal(redactUrl("/x?a=1&api_key=s3cr3t&token=t&b=2"), "/x?a=1&api_key=[REDACTED]&token=[REDACTED]&b=2");
  assert.equal(redactUrl("/x?apikey=1&page=2"), "/x?apikey=[REDACTED]&page=2");
  assert.equal(redactUrl("/x?flag"), "/x?flag");
});

test("jsonLine writes exactly what JSON.stringify would, escapes included", () => {
  const odd = new AccessRecord("id-1", "::1", "GET", '/a"b\\c\u0001\ud800?x=1');
  odd.time = "2026-01-01T00:00:00.000Z";
  odd.consumer = 'al"ice';
  odd.upstreamMs = 1.5;
  odd.status = 200;
  assert.equal(jsonLine(odd), `${JSON.stringify(odd)}\n`);
  const plain = new AccessRecord("id-2", "127.0.0.1", "POST", "/plain");
  plain.upstream = "10.0.0.1:80";
  plain.upstreamStatus = 502;
  plain.cache = "HIT";
  plain.traceId = "abc";
  assert.equal(jsonLine(plain), `${JSON.stringify(plain)}\n`);
});

test("JSON records from proxy, return and hook locations carry every field", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "access.log");
  const echo = await startEcho(t);
  const seen: unknown[] = [];
  const { gw, url } = await startGateway(
    t,
    singleHost(
      {
        "/": { return: "200 'hello'" },
        "/api/": { proxyPass: `${echo.origin}/` },
        "/hook": {
          content: () => ({ ok: true }),
          log: (ctx) => {
            seen.push({ ...ctx.log });
          },
        },
      },
      { accessLog: { path: file } },
    ),
  );
  const a = await request(`${url}/`, { headers: { "user-agent": "t1" } });
  assert.equal(a.status, 200);
  const b = await request(`${url}/api/status/201?api_key=s3cr3t&page=1`, {
    method: "POST",
    body: "abc",
    headers: { authorization: "Bearer sekrit", cookie: "session=sekrit" },
  });
  assert.equal(b.status, 201);
  const c = await request(`${url}/hook`);
  assert.equal(c.status, 200);
  const records = await waitForLines(gw, file, 3);
  assert.equal(records.length, 3);
  const [ret, proxied, hooked] = records as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];

  assert.equal(ret.virtualHost, "localhost");
  assert.equal(ret.location, "/");
  assert.equal(ret.method, "GET");
  assert.equal(ret.path, "/");
  assert.equal(ret.status, 200);
  assert.equal(ret.client, "127.0.0.1");
  assert.equal(ret.upstream, null);
  assert.match(String(ret.time), /^\d{4}-\d\d-\d\dT/);
  assert.match(String(ret.requestId), /.+-.+/);
  assert.ok((ret.bytesIn as number) > 0 && (ret.bytesOut as number) > 0);
  assert.equal(typeof ret.durationMs, "number");

  assert.equal(proxied.location, "/api/");
  assert.equal(proxied.method, "POST");
  assert.equal(proxied.status, 201);
  assert.equal(proxied.upstreamStatus, 201);
  assert.equal(proxied.upstream, `127.0.0.1:${echo.port}`);
  assert.equal(typeof proxied.upstreamMs, "number");
  assert.ok((proxied.upstreamMs as number) <= (proxied.durationMs as number));
  assert.equal(proxied.path, "/api/status/201?api_key=[REDACTED]&page=1");
  // Bytes in include the body (3 bytes) and the request head.
  assert.ok((proxied.bytesIn as number) > 3);
  const whole = await readFile(file, "utf8");
  assert.doesNotMatch(whole, /sekrit|s3cr3t/);

  assert.equal(hooked.location, "/hook");
  assert.equal(hooked.status, 200);
  // The log hook saw the same record the access log wrote.
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0], hooked);
});

test("an unreachable upstream is logged with its address and the 502", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "access.log");
  const port = await closedPort();
  const { gw, url } = await startGateway(t, singleHost({ "/": { proxyPass: `http://127.0.0.1:${port}` } }, { accessLog: { path: file } }));
  const res = await request(`${url}/x`);
  assert.equal(res.status, 502);
  const [record] = await waitForLines(gw, file, 1);
  assert.equal(record?.status, 502);
  assert.equal(record?.upstream, `127.0.0.1:${port}`);
  assert.equal(record?.upstreamStatus, null);
  // The error body's request id is the access record's.
  assert.equal(JSON.parse(res.text).requestId, record?.requestId);
});

test("combined format: nginx's line", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "access.log");
  const { gw, url } = await startGateway(t, singleHost({ "/": { return: "200 'hello'" } }, { accessLog: { format: "combined", path: file } }));
  await request(`${url}/a?b=1`, { headers: { "user-agent": 'curl/8 "x"', referer: "http://r.example/" } });
  const text = await waitFor("the access log line", async () => {
    await gw.flushLogs();
    const written = (await readFile(file, "utf8").catch(() => "")).trim();
    return written === "" ? undefined : written;
  });
  assert.match(
    text,
    /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a\?b=1 HTTP\/1\.1" 200 5 "http:\/\/r\.example\/" "curl\/8 \\x22x\\x22"$/,
  );
});

test("reopenLogs (SIGUSR1) writes to a new file after logrotate moved the old one", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "access.log");
  const { gw, url } = await startGateway(t, singleHost({ "/": { return: "200 'hello'" } }, { accessLog: { path: file } }));
  await request(`${url}/one`);
  await waitForLines(gw, file, 1);
  await rename(file, `${file}.1`);
  await request(`${url}/two`);
  await waitForLines(gw, `${file}.1`, 2);
  gw.reopenLogs();
  await request(`${url}/three`);
  await waitForLines(gw, file, 1);
  const old = (await lines(`${file}.1`)).map((r) => r.path);
  const fresh = (await lines(file)).map((r) => r.path);
  assert.deepEqual(old, ["/one", "/two"]);
  assert.deepEqual(fresh, ["/three"]);
});

test("the error log goes to its own file, leveled, with Authorization redacted", async (t) => {
  const dir = await tempDir(t);
  const errors = path.join(dir, "error.log");
  const access = path.join(dir, "access.log");
  const port = await closedPort();
  const { createGateway } = await import("../../src/gateway.js");
  const gw = await createGateway(
    singleHost({ "/": { proxyPass: `http://127.0.0.1:${port}` } }, { accessLog: { path: access }, errorLog: { path: errors, level: "warn" } }),
  );
  t.after(() => gw.close());
  const [address] = await gw.listen();
  gw.logger.info("not at warn");
  gw.logger.warn({ headers: { authorization: "Bearer sekrit", accept: "*/*" } }, "with headers");
  await request(`${address?.url}/x?token=abc`);
  await waitForLines(gw, access, 1);
  const logged = await lines(errors);
  assert.ok(logged.every((line) => (line.level as number) >= 40));
  assert.ok(logged.some((line) => line.code === "PTC_ERR_UPSTREAM_UNAVAILABLE"));
  const withHeaders = logged.find((line) => line.msg === "with headers") as { headers: Record<string, string> };
  assert.equal(withHeaders.headers.authorization, "[REDACTED]");
  assert.doesNotMatch(await readFile(errors, "utf8"), /sekrit/);
  // Access records stay in their own file.
  assert.equal((await lines(access)).length, 1);
});
