// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/** `${env:NAME}` and `${env:NAME:-default}` in any string of a config. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type EnvProblem, substituteEnv } from "../../src/config/env.js";

const env = { PORT: "8080", HOST: "127.0.0.1", EMPTY: "" };

function run(value: unknown, problems: EnvProblem[] = []): unknown {
  return substituteEnv(value, env, problems);
}

test("a whole value, a part of one, several in one string", () => {
  assert.equal(run("${env:PORT}"), "8080");
  assert.equal(run("http://${env:HOST}:${env:PORT}/"), "http://127.0.0.1:8080/");
  assert.equal(run("no reference"), "no reference");
  assert.equal(run("$host and ${host}"), "$host and ${host}", "nginx variables are left alone");
});

test("defaults apply to unset and empty variables, as in the shell", () => {
  assert.equal(run("${env:NOT_SET:-9000}"), "9000");
  assert.equal(run("${env:PORT:-9000}"), "8080");
  assert.equal(run("${env:EMPTY:-fallback}"), "fallback");
  assert.equal(run("${env:EMPTY}"), "", "without a default, an empty variable is empty");
  assert.equal(run("${env:NOT_SET:-}"), "");
  assert.equal(run("${env:NOT_SET:-http://127.0.0.1:9000/}"), "http://127.0.0.1:9000/", "a default may hold colons and slashes");
});

test("every string of the tree, at any depth; keys, numbers and booleans are left alone", () => {
  const input = {
    listen: ["${env:HOST}:${env:PORT}", 9090],
    virtualHosts: { "${env:HOST}": { default: true, locations: { "/": { proxyPass: "http://${env:HOST}/" } } } },
  };
  assert.deepEqual(run(input), {
    listen: ["127.0.0.1:8080", 9090],
    virtualHosts: { "${env:HOST}": { default: true, locations: { "/": { proxyPass: "http://127.0.0.1/" } } } },
  });
  assert.deepEqual(input.listen[0], "${env:HOST}:${env:PORT}", "the input is not changed");
});

test("functions and class instances (a TS config's hooks) pass through as they are", () => {
  const hook = () => "hi";
  const date = new Date(0);
  const out = run({ content: hook, when: date }) as { content: unknown; when: unknown };
  assert.equal(out.content, hook);
  assert.equal(out.when, date);
});

test("an unset variable without a default is reported with its path, each time it appears", () => {
  const problems: EnvProblem[] = [];
  run({ listen: "${env:NOPE}", upstreams: { api: { servers: ["${env:HOST}:1", "${env:NOPE2}:2"] } }, again: "${env:NOPE}" }, problems);
  assert.deepEqual(problems, [
    { path: ["listen"], name: "NOPE" },
    { path: ["upstreams", "api", "servers", 1], name: "NOPE2" },
    { path: ["again"], name: "NOPE" },
  ]);
});

test("a reference that is not well formed is left as written", () => {
  assert.equal(run("${env:1BAD}"), "${env:1BAD}");
  assert.equal(run("${env:PORT"), "${env:PORT");
});
