/** limitCount with Redis across instances, and when Redis goes away and comes back. */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";
import { startRedis } from "../../helpers/redis.js";
import { waitFor } from "../../helpers/wait.js";
import { burst, countOf } from "../../limits/backends.js";

test("two gateways sharing one redis-server admit together exactly the limit", async (t) => {
  const echo = await startEcho(t);
  const redis = await startRedis(t);
  const config = singleHost({ "/": { proxyPass: echo.origin, limitCount: { count: 20, window: "1h", key: "ip" } } }, { redis: { url: redis.url } });
  const one = await startGateway(t, config);
  const two = await startGateway(t, structuredClone(config));
  const statuses = await burst(60, (i) => request(`${i % 2 === 0 ? one.url : two.url}/anything`));
  assert.equal(countOf(statuses, 200), 20);
  assert.equal(countOf(statuses, 429), 40);
});

for (const onStoreError of ["allow", "deny"] as const) {
  test(`redis killed mid-test: ${onStoreError === "allow" ? "fail open" : "fail closed"}, one log line, a storeFailed event; restarted: limits apply again`, async (t) => {
    const echo = await startEcho(t);
    const redis = await startRedis(t);
    const { logger, lines } = captureLogs();
    const events: unknown[] = [];
    const onEvent = (message: unknown) => void events.push(message);
    subscribe("portico:store:failed", onEvent);
    t.after(() => unsubscribe("portico:store:failed", onEvent));
    const { url } = await startGateway(
      t,
      singleHost(
        {
          "/": { proxyPass: echo.origin, limitCount: { count: 2, window: "1h", onStoreError } },
          "/probe": { proxyPass: echo.origin, limitCount: { count: 1000, window: "1h" } },
        },
        { redis: { url: redis.url, timeout: "500ms" } },
      ),
      { logger },
    );
    assert.deepEqual(await burst(3, () => request(`${url}/`)), [200, 200, 429]);

    await redis.stop();
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await request(`${url}/`));
    const expected = onStoreError === "allow" ? 200 : 503;
    assert.deepEqual(
      during.map((r) => r.status),
      [expected, expected, expected, expected],
    );
    if (onStoreError === "deny") assert.equal(during[0]?.headers["retry-after"], "1");
    const failures = lines.filter((line) => line.code === "PTC_ERR_LIMIT_STORE_FAILED");
    assert.equal(failures.length, 1, "one log line per outage, not one per request");
    assert.equal(failures[0]?.failOpen, onStoreError === "allow");
    assert.equal(events.length, 4);
    assert.deepEqual(Object.keys(events[0] as object).sort(), ["error", "failOpen", "plugin"]);

    await redis.start();
    // A second location, with a limit of its own, shows when Redis answers again: its RateLimit-* fields come back.
    await waitFor("the gateway to reconnect to Redis", async () => ((await request(`${url}/probe`)).headers["ratelimit-limit"] === "1000" ? true : undefined));
    // The restarted Redis is empty: the limit counts afresh, without restarting Portico.
    assert.deepEqual(await burst(3, () => request(`${url}/`)), [200, 200, 429]);
    assert.ok(lines.some((line) => String(line.msg).includes("limit store is back")));
  });
}
