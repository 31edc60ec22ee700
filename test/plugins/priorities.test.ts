/**
 * The order of the built-in plugins, pinned as Kong pins its own (spec/01-unit/12-plugins_order_spec.lua):
 * a plugin added, removed or moved fails here until this list is changed on purpose, together with
 * the table in src/plugins/index.ts and the plugin's page in docs/plugins/. Higher runs first within
 * a phase; the priorities follow where Kong and APISIX put the same features.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AnyPlugin, checkPluginSet } from "../../src/lifecycle/plugin.js";
import { BUILTIN_PLUGINS } from "../../src/plugins/index.js";

/** Every built-in plugin with its priority, highest first. */
const EXPECTED_ORDER: ReadonlyArray<readonly [string, number]> = [
  ["requestId", 12000],
  ["ipRestriction", 11000],
  ["cors", 10000],
  ["openidConnect", 2600],
  ["basicAuth", 2520],
  ["jwtAuth", 2510],
  ["keyAuth", 2500],
  ["authorize", 2400],
  ["limitConn", 1003],
  ["limitCount", 1002],
  ["limitReq", 1001],
  ["proxyCache", 100],
  ["compression", 40],
];

const byPriority = (plugins: readonly AnyPlugin[]) => [...plugins].sort((a, b) => b.priority - a.priority).map((p) => [p.name, p.priority] as const);

test("every built-in plugin, with its exact priority, in the expected order", () => {
  assert.deepEqual(
    byPriority(BUILTIN_PLUGINS),
    EXPECTED_ORDER,
    "a built-in plugin was added, removed or reordered: update EXPECTED_ORDER, src/plugins/index.ts and docs/plugins/ together",
  );
});

test("BUILTIN_PLUGINS lists them in that order", () => {
  assert.deepEqual(
    BUILTIN_PLUGINS.map((p) => p.name),
    EXPECTED_ORDER.map(([name]) => name),
  );
});

test("names and priorities are unique, and the gateway accepts the set", () => {
  const priorities = BUILTIN_PLUGINS.map((p) => p.priority);
  assert.equal(new Set(priorities).size, priorities.length, `two plugins share a priority: ${priorities.join(", ")}`);
  const names = BUILTIN_PLUGINS.map((p) => p.name);
  assert.equal(new Set(names).size, names.length, `two plugins share a name: ${names.join(", ")}`);
  assert.doesNotThrow(() => checkPluginSet(BUILTIN_PLUGINS));
});

test("the limits stand at preaccess, before the auth plugins, which stand at access only", () => {
  const plugin = (name: string) => BUILTIN_PLUGINS.find((p) => p.name === name) as AnyPlugin;
  for (const name of ["limitReq", "limitCount", "limitConn"]) {
    assert.equal(typeof plugin(name).preaccess, "function", `${name} has a preaccess hook`);
  }
  for (const name of ["openidConnect", "basicAuth", "jwtAuth", "keyAuth", "authorize"]) {
    assert.equal(typeof plugin(name).access, "function", `${name} has an access hook`);
    assert.equal(plugin(name).preaccess, undefined, `${name} does not run before the limits`);
  }
});
