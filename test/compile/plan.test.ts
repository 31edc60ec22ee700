import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { explainRoute } from "../../src/compile/explain.js";
import { compilePlan } from "../../src/compile/index.js";
import type { LocationPlan, Plan } from "../../src/compile/plan.js";
import type { PorticoConfig } from "../../src/config/schema.js";
import { sourceFromObject } from "../../src/config/source.js";
import { validateConfig } from "../../src/config/validate.js";
import { ConfigError } from "../../src/errors.js";
import type { AccessHook } from "../../src/lifecycle/context.js";
import { BUILTIN_PLUGINS } from "../../src/plugins/index.js";
import { RedisConnections } from "../../src/state/redis.js";
import { SharedState } from "../../src/state/shared-state.js";
import { UpstreamRegistry } from "../../src/upstream/health.js";
import { PoolRegistry } from "../../src/upstream/pools.js";

const logger = pino({ level: "silent" });

async function compile(input: PorticoConfig, bindLocation: ((summary: unknown) => unknown) | null = null): Promise<Plan> {
  const source = sourceFromObject(input);
  const { config } = validateConfig(source, BUILTIN_PLUGINS, {});
  const pools = new PoolRegistry();
  const plan = await compilePlan(config, {
    source,
    plugins: BUILTIN_PLUGINS,
    pools,
    logger,
    shared: new SharedState(),
    redis: new RedisConnections(logger),
    upstreams: new UpstreamRegistry(),
    bindLocation,
  });
  await pools.closeAll();
  return plan;
}

function location(plan: Plan, path: string): LocationPlan {
  const found = plan.hosts.match("localhost").data.locations.match(path);
  assert.ok(found !== null && "location" in found, `no location for ${path}`);
  return found.location.data;
}

const allow: AccessHook = () => undefined;

test("a plain proxy location has no phases at all, and its answer is the route", async () => {
  const plan = await compile({ virtualHosts: { localhost: { locations: { "/api/": { proxyPass: "http://127.0.0.1:9000/v1/" } } } } });
  const loc = location(plan, "/api/x");
  assert.equal(loc.phases, null);
  assert.equal(loc.summary.fastPath, true);
  assert.equal(loc.answer.kind, "proxy");
  assert.equal(loc.websocket, null);
  assert.equal(loc.needsVariables, false);
  assert.equal(loc.observe, null);
  assert.deepEqual(loc.location, { key: "/api/", captures: null });
  assert.deepEqual(loc.virtualHost, { name: "localhost" });
  await plan.close();
});

test("a location with only an access hook has that phase and no other", async () => {
  const plan = await compile({ virtualHosts: { localhost: { locations: { "/": { access: allow, return: "200 ok" } } } } });
  const loc = location(plan, "/");
  assert.ok(loc.phases !== null);
  assert.equal(loc.phases.access?.length, 1);
  assert.match(loc.phases.access?.[0]?.label ?? "", /^location "\/" access/);
  for (const phase of ["rewrite", "preaccess", "content", "headerFilter", "bodyFilter", "log"] as const) assert.equal(loc.phases[phase], null, phase);
  assert.equal(loc.summary.fastPath, false);
  assert.deepEqual(Object.keys(loc.summary.phases), ["access"]);
  await plan.close();
});

test("a constant return is the finished answer: Server and addHeader in its header list, a string body", async () => {
  const plan = await compile({
    virtualHosts: { localhost: { locations: { "/": { return: "200 'hello'", addHeader: { "X-A": "a" } }, "/gone": { return: 444 } } } },
  });
  const answer = location(plan, "/").answer;
  assert.equal(answer.kind, "return");
  assert.deepEqual(answer.constant, {
    status: 200,
    headers: ["Content-Type", "application/octet-stream", "Content-Length", "5", "Server", "portico", "X-A", "a"],
    body: "hello",
  });
  const gone = location(plan, "/gone").answer;
  assert.equal(gone.kind === "return" && gone.constant?.status, 444);
  await plan.close();
});

test("a return that reads variables is rendered per request", async () => {
  const plan = await compile({ virtualHosts: { localhost: { locations: { "/": { return: "200 $uri" } } } } });
  const loc = location(plan, "/");
  assert.equal(loc.answer.kind === "return" && loc.answer.constant, null);
  assert.equal(loc.needsVariables, true);
  await plan.close();
});

test("bindLocation's result is the location's observe, once per location", async () => {
  const bound: unknown[] = [];
  const plan = await compile({ virtualHosts: { localhost: { locations: { "/": { return: 200 }, "/b": { return: 204 } } } } }, (summary) => {
    bound.push(summary);
    return { summary };
  });
  assert.deepEqual(bound, plan.locations);
  assert.deepEqual(location(plan, "/b").observe, { summary: location(plan, "/b").summary });
  await plan.close();
});

test("explainRoute names the location and the upstream URL of a proxyPass", async () => {
  const plan = await compile({
    virtualHosts: { localhost: { default: true, locations: { "/api/": { proxyPass: "http://127.0.0.1:9000/v1/" }, "/": { return: 200 } } } },
  });
  const result = explainRoute(plan, "GET", "/api/users?page=2", "localhost");
  assert.equal(result.virtualHost, "localhost");
  assert.equal(result.path, "/api/users");
  assert.equal(result.location?.key, "/api/");
  assert.equal(result.upstreamUrl, "http://127.0.0.1:9000/v1/users?page=2");
  assert.equal(explainRoute(plan, "GET", "/api", "localhost").redirectTo, "/api/");
  assert.equal(explainRoute(plan, "GET", "/", "bad host!").status, 400);
  await plan.close();
});

test("a config with errors throws every one, with the warnings, by position", async () => {
  await assert.rejects(
    compile({
      virtualHosts: {
        localhost: { locations: { "/a": { return: "abc" }, "/b": { proxyPass: "ftp://x" }, "/c": { return: 200, proxySetHeader: { X: "y" } } } },
      },
    }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, "PTC_ERR_CONFIG_INVALID");
      assert.deepEqual(
        error.issues.map((issue) => [issue.severity, issue.path]),
        [
          ["error", "virtualHosts.localhost.locations./a.return"],
          ["error", "virtualHosts.localhost.locations./b.proxyPass"],
          ["warning", "virtualHosts.localhost.locations./c.proxySetHeader"],
        ],
      );
      return true;
    },
  );
});
