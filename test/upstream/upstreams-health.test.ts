/**
 * Upstream health: passive (nginx max_fails/fail_timeout) with a server killed and revived under
 * sequential load, active checks taking a server out and back, the circuit breaker's cycle, and
 * "no live upstreams": a fast 502 without any connect attempt.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { startEchoUpstream } from "../fixtures/echo-upstream.js";
import { startBlackhole } from "../helpers/blackhole.js";
import { closedPort, errorBody, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/logs.js";
import { servedBy, startSwitchServer } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

interface HealthEvent {
  upstream: string;
  server: string;
  healthy: boolean;
  reason: string;
}

/** Records upstreamHealth messages; `next(pred)` resolves with the first (past or future) that matches. */
function watchHealth(t: TestContext) {
  const events: HealthEvent[] = [];
  const waiters: Array<{ pred: (e: HealthEvent) => boolean; resolve: (e: HealthEvent) => void }> = [];
  const onMessage = (message: unknown) => {
    const event = message as HealthEvent;
    events.push(event);
    for (const waiter of [...waiters]) {
      if (!waiter.pred(event)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(event);
    }
  };
  subscribe("portico:upstream:health", onMessage);
  t.after(() => unsubscribe("portico:upstream:health", onMessage));
  return {
    events,
    next(pred: (e: HealthEvent) => boolean, from = 0): Promise<HealthEvent> {
      const past = events.slice(from).find(pred);
      if (past) return Promise.resolve(past);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

test("passive: a killed server is taken out after maxFails and gets no traffic until failTimeout; revived, it gets traffic again", async (t) => {
  // failTimeout runs on the gateway's Date.now(): the test moves that clock rather than waiting for
  // it, so "within failTimeout" holds however slow the machine (timers stay real).
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const health = watchHealth(t);
  const a = await startEchoUpstream();
  const b = await startEcho(t);
  const portA = a.port;
  const addressA = `127.0.0.1:${portA}`;
  const config = singleHost(
    { "/": { proxyPass: "http://pool" } },
    { upstreams: { pool: { servers: [addressA, `127.0.0.1:${b.port}`], maxFails: 2, failTimeout: "700ms" } } },
  );
  const { gw, url } = await startGateway(t, config);
  for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/anything/warm/${i}`)).status, 200);
  assert.equal(a.seen.length, 2);

  await a.close();
  // Every request still succeeds: a connect error goes to the next server (proxyNextUpstream "error").
  for (let i = 0; i < 10; i++) assert.equal((await request(`${url}/anything/down/${i}`)).status, 200);
  const down = await health.next((e) => e.server === addressA && !e.healthy);
  assert.equal(down.upstream, "pool");
  assert.match(down.reason, /2 failures/);
  const status = gw.upstreamStatus();
  assert.equal(status[0]?.name, "pool");
  assert.equal(status[0]?.loadBalancing, "roundRobin");
  assert.deepEqual(
    status[0]?.servers.map((s) => [s.address, s.healthy, s.fails]),
    [
      [addressA, false, 2],
      [`127.0.0.1:${b.port}`, true, 0],
    ],
  );

  // Back on the same port, but still within failTimeout: no traffic, up to its last millisecond.
  const revived = await startEchoUpstream(portA);
  t.after(() => revived.close());
  for (let i = 0; i < 6; i++) assert.equal((await request(`${url}/anything/out/${i}`)).status, 200);
  t.mock.timers.tick(699);
  for (let i = 0; i < 6; i++) assert.equal((await request(`${url}/anything/still-out/${i}`)).status, 200);
  assert.equal(revived.seen.length, 0);

  t.mock.timers.tick(101);
  for (let i = 0; i < 6; i++) assert.equal((await request(`${url}/anything/back/${i}`)).status, 200);
  assert.equal(revived.seen.length, 3);
  await health.next((e) => e.server === addressA && e.healthy);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.healthy, true);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.fails, 0);
});

test("all servers down: 502 at once, without a connect attempt (nginx: no live upstreams)", async (t) => {
  const { logger, lines } = captureLogs();
  const hole = await startBlackhole(t);
  const closed = await closedPort();
  const config = singleHost(
    { "/": { proxyPass: "http://pool", proxyConnectTimeout: "1s" } },
    { upstreams: { pool: { servers: [`127.0.0.1:${hole}`, `127.0.0.1:${closed}`], failTimeout: "1m" } } },
  );
  const { gw, url } = await startGateway(t, config, { logger });
  // First request: the connect to the black hole times out, the other is refused.
  const first = await request(`${url}/anything/1`);
  assert.ok(first.status === 504 || first.status === 502, `status ${first.status}`);
  assert.deepEqual(
    gw.upstreamStatus()[0]?.servers.map((s) => s.healthy),
    [false, false],
  );
  // Every socket this process opens during the second request: the client's own, and no other.
  const opened: Socket[] = [];
  const onSocket = (message: unknown) => void opened.push((message as { socket: Socket }).socket);
  subscribe("net.client.socket", onSocket);
  t.after(() => unsubscribe("net.client.socket", onSocket));
  const res = await request(`${url}/anything/2`);
  unsubscribe("net.client.socket", onSocket);
  assert.equal(res.status, 502);
  assert.equal(errorBody(res).message, "Bad Gateway");
  assert.equal(opened.length, 1, `${opened.length - 1} connection(s) attempted upstream`);
  assert.ok(lines.some((line) => String(line.msg).startsWith("no live upstreams")));
});

test("active: a server failing its health check is taken out after unhealthyThreshold and back after healthyThreshold", async (t) => {
  const health = watchHealth(t);
  const s1 = await startSwitchServer(t, 200);
  const b = await startEcho(t);
  const config = singleHost(
    { "/": { proxyPass: "http://checked" } },
    {
      upstreams: {
        checked: {
          servers: [s1.address, `127.0.0.1:${b.port}`],
          // A check's own timeout far away: on a busy machine a slow answer must not count as a failed check.
          healthCheck: { path: "/healthz", interval: "40ms", timeout: "30s", unhealthyThreshold: 2, healthyThreshold: 3 },
        },
      },
    },
  );
  const { gw, url } = await startGateway(t, config);
  await waitFor("the first health check", () => (s1.hits.includes("/healthz") ? true : undefined));
  s1.status = 500;
  const down = await health.next((e) => e.server === s1.address && !e.healthy);
  assert.match(down.reason, /health check failed 2/);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.activeHealthy, false);
  const proxiedBefore = s1.hits.filter((hit) => hit !== "/healthz").length;
  for (let i = 0; i < 8; i++) {
    const res = await request(`${url}/anything/a/${i}`);
    assert.equal(res.status, 200);
    assert.equal(servedBy([b], `/anything/a/${i}`), 0);
  }
  assert.equal(s1.hits.filter((hit) => hit !== "/healthz").length, proxiedBefore);

  s1.status = 200;
  const up = await health.next((e) => e.server === s1.address && e.healthy);
  assert.match(up.reason, /health check passed 3/);
  const texts: string[] = [];
  for (let i = 0; i < 4; i++) texts.push((await request(`${url}/anything/b/${i}`)).text);
  assert.equal(texts.filter((text) => text.startsWith("status 200 from")).length, 2);
});

test("active checks stop when the gateway closes, and when a reload removes them", async (t) => {
  const s1 = await startSwitchServer(t, 200);
  const b = await startEcho(t);
  const upstream = { servers: [s1.address, `127.0.0.1:${b.port}`], healthCheck: { path: "/hc", interval: "20ms" } };
  const { gw } = await startGateway(t, singleHost({ "/": { proxyPass: "http://u" } }, { upstreams: { u: upstream } }));
  // A second gateway checking its own server at the same interval is the clock: once it has made
  // five more checks, a checker that had not stopped would have made several too, however slow the machine.
  const reference = await startSwitchServer(t, 200);
  await startGateway(
    t,
    singleHost({ "/": { proxyPass: "http://r" } }, { upstreams: { r: { servers: [reference.address], healthCheck: { path: "/hc", interval: "20ms" } } } }),
  );
  const fiveMoreChecks = () => {
    const from = reference.hits.length;
    return waitFor("five checks of the reference gateway", () => (reference.hits.length >= from + 5 ? true : undefined));
  };
  await waitFor("two checks", () => (s1.hits.length >= 2 ? true : undefined));
  await gw.reload(singleHost({ "/": { proxyPass: "http://u" } }, { upstreams: { u: { servers: upstream.servers } } }));
  const after = s1.hits.length;
  await fiveMoreChecks();
  // At most one check was already on its way when the reload landed.
  assert.ok(s1.hits.length <= after + 1, `${s1.hits.length - after} checks after the reload`);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.activeHealthy, null);

  // Back with a check, then the gateway closes: the checks stop with it.
  await gw.reload(singleHost({ "/": { proxyPass: "http://u" } }, { upstreams: { u: upstream } }));
  const resumed = s1.hits.length;
  await waitFor("a check after the second reload", () => (s1.hits.length > resumed ? true : undefined));
  await gw.close();
  const closedAt = s1.hits.length;
  await fiveMoreChecks();
  assert.ok(s1.hits.length <= closedAt + 1, `${s1.hits.length - closedAt} checks after close`);
});

test("circuit breaker: opens after consecutive failures, lets one probe through after openTimeout, closes on its success", async (t) => {
  // openTimeout runs on Date.now(): moved by the test (see the passive test).
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const health = watchHealth(t);
  const s1 = await startSwitchServer(t, 500);
  const b = await startEcho(t);
  const config = singleHost(
    { "/": { proxyPass: "http://guarded", proxyNextUpstream: "error timeout http_500" } },
    {
      upstreams: {
        guarded: {
          servers: [s1.address, `127.0.0.1:${b.port}`],
          // Passive health off, so that only the breaker acts.
          maxFails: 0,
          circuitBreaker: { failures: 3, openTimeout: "300ms" },
        },
      },
    },
  );
  const { gw, url } = await startGateway(t, config);
  // Each request that lands on s1 gets its 500, then goes to b: the client always sees 200.
  for (let i = 0; i < 6; i++) assert.equal((await request(`${url}/anything/x/${i}`)).status, 200);
  const open = await health.next((e) => e.server === s1.address && !e.healthy);
  assert.equal(open.reason, "circuit breaker open");
  assert.equal(s1.hits.length, 3);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.breaker, "open");
  for (let i = 0; i < 6; i++) assert.equal((await request(`${url}/anything/y/${i}`)).status, 200);
  assert.equal(s1.hits.length, 3, "an open breaker lets nothing through");

  t.mock.timers.tick(299);
  for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/anything/still-open/${i}`)).status, 200);
  assert.equal(s1.hits.length, 3, "open until openTimeout has passed");

  s1.status = 200;
  t.mock.timers.tick(51);
  for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/anything/z/${i}`)).status, 200);
  assert.ok(s1.hits.length >= 4, "the probe and later requests reach the server again");
  const reasons = health.events.filter((e) => e.server === s1.address).map((e) => e.reason);
  assert.deepEqual(reasons, ["circuit breaker open", "circuit breaker half-open: one probe request", "circuit breaker closed"]);
  assert.equal(gw.upstreamStatus()[0]?.servers[0]?.breaker, "closed");
});
