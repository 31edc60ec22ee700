/** The `upstreams` options and proxyNextUpstream*: what validation and compile accept and refuse. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, checkConfig, type PorticoConfig } from "../../src/index.js";

function config(upstream: Record<string, unknown>, location: Record<string, unknown> = {}): PorticoConfig {
  return {
    listen: "127.0.0.1:0",
    upstreams: { pool: { servers: ["127.0.0.1:9001", "127.0.0.1:9002"], ...upstream } as never },
    virtualHosts: { localhost: { locations: { "/": { proxyPass: "http://pool", ...location } } } },
  };
}

async function problems(input: PorticoConfig): Promise<string[]> {
  try {
    await checkConfig(input);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
}

test("the full set of options is accepted, in the map form and with defaults", async () => {
  assert.deepEqual(await problems(config({})), []);
  assert.deepEqual(
    await problems(
      config(
        {
          servers: {
            "127.0.0.1:9001": { weight: 3, maxFails: 2, failTimeout: "30s" },
            "127.0.0.1:9002": { backup: true },
            "127.0.0.1:9003": { down: true },
          },
          loadBalancing: "leastConn",
          keepalive: 16,
          maxFails: 3,
          failTimeout: "5s",
          healthCheck: { path: "/healthz", interval: "2s", timeout: "500ms", healthyThreshold: 1, unhealthyThreshold: 2, expectStatus: [200, 204] },
          circuitBreaker: { failures: 10, errorRatio: 0.5, minRequests: 5, window: "30s", openTimeout: "1m" },
        },
        { proxyNextUpstream: "error timeout http_502 http_503 http_504 http_429 non_idempotent", proxyNextUpstreamTries: 3, proxyNextUpstreamTimeout: "5s" },
      ),
    ),
    [],
  );
  assert.deepEqual(await problems(config({ loadBalancing: "hash", hashKey: "$remote_addr$request_uri" })), []);
  assert.deepEqual(await problems(config({ loadBalancing: "hash", hashKey: "consumer" })), []);
  assert.deepEqual(await problems(config({ loadBalancing: "random2" }, { proxyNextUpstream: ["off"] })), []);
});

test("bad values are refused with their path", async () => {
  const cases: Array<[PorticoConfig, RegExp]> = [
    [config({ loadBalancing: "ipHash" }), /upstreams\.pool\.loadBalancing/],
    [config({ loadBalancing: "hash" }), /needs a hashKey/],
    [config({ hashKey: "$remote_addr" }), /only used with loadBalancing: "hash"/],
    [config({ loadBalancing: "hash", hashKey: "$nope" }), /unknown variable/],
    [config({ maxFails: -1 }), /maxFails/],
    [config({ failTimeout: "soon" }), /failTimeout/],
    [config({ healthCheck: { path: "healthz" } }), /healthCheck\.path/],
    [config({ healthCheck: { unhealthyThreshold: 0 } }), /unhealthyThreshold/],
    [config({ healthCheck: { expectStatus: [] } }), /expectStatus/],
    [config({ healthCheck: { intervall: "1s" } }), /intervall/],
    [config({ circuitBreaker: { errorRatio: 1.5 } }), /errorRatio/],
    [config({ servers: { "127.0.0.1:9001": { down: true }, "127.0.0.1:9002": { backup: true } } }), /at least one must take traffic/],
    [config({ loadBalancing: "hash", hashKey: "$host", servers: { "127.0.0.1:9001": {}, "127.0.0.1:9002": { backup: true } } }), /backup servers cannot/],
    [config({}, { proxyNextUpstream: "error http_418" }), /unknown value "http_418"/],
    [config({}, { proxyNextUpstream: "off error" }), /"off" cannot be combined/],
    [config({}, { proxyNextUpstream: "" }), /at least one value/],
    [config({}, { proxyNextUpstreamTries: -1 }), /proxyNextUpstreamTries/],
    [config({}, { proxyNextUpstreamTimeout: "later" }), /proxyNextUpstreamTimeout/],
  ];
  for (const [input, expected] of cases) {
    const found = await problems(input);
    assert.ok(
      found.some((line) => expected.test(line)),
      `${JSON.stringify(input.upstreams)} ${JSON.stringify(input.virtualHosts)}: ${found.join(" | ") || "accepted"}`,
    );
  }
});
