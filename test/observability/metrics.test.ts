import assert from "node:assert/strict";
import { test } from "node:test";
import type { Gateway } from "../../src/gateway.js";
import { cacheStatus, limitRejected, upstreamHealth } from "../../src/observability/channels.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

/** Requests are counted when their response closes on the server, which may be just after the client read it. */
async function settled(gw: Gateway, total: number): Promise<void> {
  await waitFor(`${total} requests counted`, () => (gw.observability.stats.snapshot().total >= total ? true : undefined));
}

/** The value of one sample line, e.g. `portico_http_requests_total{…} 3`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

test("a scrape after traffic counts requests by virtual host, location, method and status class", async (t) => {
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      {
        "/": { return: "200 'hello'" },
        "/api/": { proxyPass: "http://backend/" },
      },
      { admin: { listen: "127.0.0.1:0" }, upstreams: { backend: { servers: [`127.0.0.1:${echo.port}`] } } },
    ),
  );
  const admin = gw.adminAddress();
  assert.ok(admin);
  for (let i = 0; i < 3; i++) assert.equal((await request(`${url}/`)).status, 200);
  assert.equal((await request(`${url}/api/status/404`)).status, 404);
  assert.equal((await request(`${url}/api/anything`, { method: "POST", body: "hello" })).status, 200);
  assert.equal((await request(`${url}/api/status/503`, { method: "PURGE" })).status, 503);
  await settled(gw, 6);

  const res = await request(`${admin.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers["content-type"]), /^text\/plain/);
  const text = res.text;
  const req = "portico_http_requests_total";
  assert.equal(sample(text, req, { virtual_host: "localhost", location: "/", method: "GET", status: "2xx" }), 3);
  assert.equal(sample(text, req, { virtual_host: "localhost", location: "/api/", method: "GET", status: "4xx" }), 1);
  assert.equal(sample(text, req, { virtual_host: "localhost", location: "/api/", method: "POST", status: "2xx" }), 1);
  // Unknown methods are one label value, so that clients cannot blow up the series count.
  assert.equal(sample(text, req, { location: "/api/", method: "OTHER", status: "5xx" }), 1);

  // Histograms: total time for every request, upstream time for proxied ones.
  assert.equal(sample(text, "portico_http_request_duration_seconds_count", { location: "/" }), 3);
  assert.equal(sample(text, "portico_http_request_duration_seconds_bucket", { location: "/", le: "+Inf" }), 3);
  assert.equal(sample(text, "portico_upstream_duration_seconds_count", { location: "/api/" }), 3);
  assert.equal(sample(text, "portico_upstream_duration_seconds_count", { location: "/" }) ?? 0, 0);
  assert.ok((sample(text, "portico_http_request_bytes_total", { location: "/api/" }) ?? 0) > 5);
  assert.ok((sample(text, "portico_http_response_bytes_total", { location: "/" }) ?? 0) > 0);

  // Configured upstream servers start healthy; process metrics are there.
  assert.equal(sample(text, "portico_upstream_healthy", { upstream: "backend", server: `127.0.0.1:${echo.port}` }), 1);
  assert.match(text, /^portico_process_cpu_user_seconds_total /m);
});

test("limit rejections, cache lookups and upstream health come from the diagnostics channels", async (t) => {
  const { gw } = await startGateway(t, singleHost({ "/": { return: "200 'hello'" } }, { admin: { listen: "127.0.0.1:0", processMetrics: false } }));
  const admin = gw.adminAddress();
  assert.ok(admin);
  limitRejected.publish({ plugin: "limitCount", virtualHost: "localhost", location: "/" });
  limitRejected.publish({ plugin: "limitCount", virtualHost: "localhost", location: "/" });
  cacheStatus.publish({ status: "HIT", location: "/" });
  cacheStatus.publish({ status: "MISS", location: "/" });
  cacheStatus.publish({ status: "HIT", location: "/" });
  upstreamHealth.publish({ upstream: "backend", server: "10.0.0.1:80", healthy: false, reason: "connect refused" });

  const text = (await request(`${admin.url}/metrics`)).text;
  assert.equal(sample(text, "portico_limit_rejections_total", { plugin: "limitCount", location: "/" }), 2);
  assert.equal(sample(text, "portico_cache_lookups_total", { status: "HIT" }), 2);
  assert.equal(sample(text, "portico_cache_lookups_total", { status: "MISS" }), 1);
  assert.equal(sample(text, "portico_upstream_healthy", { upstream: "backend", server: "10.0.0.1:80" }), 0);
  assert.doesNotMatch(text, /portico_process_cpu/);
});

test("counters survive a reload; admin.metrics: false serves no /metrics", async (t) => {
  const { gw, url } = await startGateway(t, singleHost({ "/": { return: "200 'hello'" } }, { admin: { listen: "127.0.0.1:0", processMetrics: false } }));
  const admin = gw.adminAddress();
  assert.ok(admin);
  await request(`${url}/`);
  await settled(gw, 1);
  await gw.reload(singleHost({ "/": { return: "200 'hello'" } }, { admin: { listen: `127.0.0.1:${admin.port}`, processMetrics: false } }));
  await request(`${url}/`);
  await settled(gw, 2);
  const text = (await request(`${admin.url}/metrics`)).text;
  assert.equal(sample(text, "portico_http_requests_total", { location: "/", status: "2xx" }), 2);

  await gw.reload(singleHost({ "/": { return: "200 'hello'" } }, { admin: { listen: `127.0.0.1:${admin.port}`, metrics: false } }));
  assert.equal((await request(`${admin.url}/metrics`)).status, 404);
});
