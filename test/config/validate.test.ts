// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/**
 * Schema validation: every problem at once, each with its field path, position and a sentence a
 * person can act on; misspelt keys get the name that was probably meant.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ConfigSource, type FieldPath, sourceFromObject } from "../../src/config/source.js";
import { closest, validateConfig } from "../../src/config/validate.js";
import { ConfigError } from "../../src/errors.js";

const minimal = { virtualHosts: { localhost: { locations: { "/": { return: 200 } } } } };

/** path → message of each issue of validating `value`. */
function problems(value: unknown, env: NodeJS.ProcessEnv = {}): Array<[string, string]> {
  try {
    validateConfig(sourceFromObject(value), [], env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((issue) => [issue.path, issue.message]);
  }
  assert.fail("the config was valid");
}

describe("closest", () => {
  test("the nearest candidate within a few edits, case aside", () => {
    const keys = ["return", "proxyPass", "proxySetHeader", "locations", "virtualHosts", "content"];
    assert.equal(closest("retrun", keys), "return");
    assert.equal(closest("proxy_pass", keys), "proxyPass");
    assert.equal(closest("proxypass", keys), "proxyPass");
    assert.equal(closest("PROXYPASS", keys), "proxyPass");
    assert.equal(closest("locatons", keys), "locations");
    assert.equal(closest("virtualHost", keys), "virtualHosts");
    assert.equal(closest("zzz", keys), undefined);
    assert.equal(closest("x", []), undefined);
  });
});

describe("validateConfig", () => {
  test("a valid config comes back with the env references replaced", () => {
    const { config } = validateConfig(sourceFromObject({ ...minimal, listen: "${env:P:-127.0.0.1:0}" }), [], {});
    assert.equal(config.listen, "127.0.0.1:0");
  });

  test("misspelt keys at every level, with did-you-mean", () => {
    assert.deepEqual(
      problems({
        lsiten: 80,
        virtualHosts: { a: { defualt: true, locatons: {} }, b: { locations: { "/": { retrun: 200, proxy_pass: "http://x/", headerfilter: "./x.js" } } } },
      }),
      [
        ["lsiten", 'unknown field "lsiten": did you mean "listen"?'],
        ["virtualHosts.a.defualt", 'unknown field "defualt": did you mean "default"?'],
        ["virtualHosts.a.locatons", 'unknown field "locatons": did you mean "locations"?'],
        ["virtualHosts.b.locations./.retrun", 'unknown field "retrun": did you mean "return"?'],
        ["virtualHosts.b.locations./.proxy_pass", 'unknown field "proxy_pass": did you mean "proxyPass"?'],
        ["virtualHosts.b.locations./.headerfilter", 'unknown field "headerfilter": did you mean "headerFilter"?'],
      ],
    );
  });

  test("a key nothing resembles lists what the level accepts", () => {
    const [[field, message] = ["", ""]] = problems({ ...minimal, upstreams: { api: { servers: ["a:1"], zzzzzz: 1 } } });
    assert.equal(field, "upstreams.api.zzzzzz");
    assert.equal(
      message,
      'unknown field "zzzzzz": expected one of: servers, keepalive, loadBalancing, hashKey, maxFails, failTimeout, healthCheck, circuitBreaker',
    );
  });

  test("a misspelt required key is one problem, not two", () => {
    assert.deepEqual(problems({ virtualHost: {} }), [["virtualHost", 'unknown field "virtualHost": did you mean "virtualHosts"?']]);
    assert.deepEqual(problems({ listen: 80 }), [["virtualHosts", "is required (a map)"]]);
  });

  test("wrong types say what was expected and what was given", () => {
    assert.deepEqual(
      problems({
        listen: "abc",
        clientMaxBodySize: "1x",
        keepaliveTimeout: "fast",
        logLevel: "loud",
        virtualHosts: { a: { default: "yes", serverAliases: "b", locations: { "/": { return: true, addHeader: { "X A": "1" } } } } },
      }),
      [
        ["listen", 'expected a port, "host:port" or "[::1]:port", got the string "abc"'],
        ["clientMaxBodySize", 'expected an nginx size such as "8k", "1m" or "1g", got the string "1x"'],
        ["keepaliveTimeout", 'expected an nginx time such as "500ms", "5s" or "1m", got the string "fast"'],
        ["logLevel", 'expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got the string "loud"'],
        ["virtualHosts.a.default", 'expected true or false, got the string "yes"'],
        ["virtualHosts.a.serverAliases", 'expected a list, got the string "b"'],
        ["virtualHosts.a.locations./.return", "expected a string or a number, got boolean true"],
        ['virtualHosts.a.locations./.addHeader["X A"]', 'the key "X A" is refused: not a valid header name'],
      ],
    );
  });

  test("listen: each entry of a list on its own, ranges, the NixOS { addr, port } form", () => {
    assert.deepEqual(problems({ ...minimal, listen: [8080, "x y", 70000, "[::1]:99999", { addr: "::1", port: 1, ssl: "yes" }, false, "*:80"] }), [
      ["listen[1]", 'expected a port, "host:port" or "[::1]:port", got the string "x y"'],
      ["listen[2]", "must be at most 65535, got number 70000"],
      ["listen[3]", "port 99999 is out of range (0-65535)"],
      ["listen[4].ssl", 'expected true or false, got the string "yes"'],
      ["listen[5]", "expected a number, a string or a map, got boolean false"],
    ]);
    assert.deepEqual(problems({ ...minimal, listen: true }), [["listen", "expected a number, a string, a map or a list, got boolean true"]]);
    assert.deepEqual(problems({ ...minimal, listen: [] }), [["listen", "needs at least 1 entry"]]);
  });

  test("a missing required field inside a union", () => {
    assert.deepEqual(problems({ ...minimal, upstreams: { api: { keepalive: 2 } } }), [["upstreams.api.servers", "is required (a list or a map)"]]);
  });

  test("environment variables are checked first, each with its path", () => {
    assert.deepEqual(problems({ ...minimal, listen: "${env:NO_PORT}", retrun: 1 }), [
      ["listen", "environment variable NO_PORT is not set: set it, or give a default with ${env:NO_PORT:-default}"],
    ]);
  });

  test("a config that is not a map", () => {
    assert.deepEqual(problems([minimal]), [["", "the config must be a map with at least virtualHosts, got a list"]]);
    assert.deepEqual(problems("virtualHosts"), [["", 'the config must be a map with at least virtualHosts, got the string "virtualHosts"']]);
    assert.deepEqual(problems(null), [["", "the config must be a map with at least virtualHosts, got null"]]);
  });

  test("issues are sorted by position", () => {
    const positions: Record<string, number> = { "virtualHosts.a.retrun": 3, lisen: 7, "virtualHosts.a.locations./.x": 5 };
    const source: ConfigSource = {
      ...sourceFromObject({ lisen: 1, virtualHosts: { a: { retrun: 1, locations: { "/": { x: 1 } } } } }),
      file: "/x.yaml",
      locate: (field: FieldPath) => ({ line: positions[field.join(".")] ?? 1, column: 1 }),
    };
    try {
      validateConfig(source, [], {});
      assert.fail("valid");
    } catch (error) {
      assert.deepEqual(
        (error as ConfigError).issues.map((issue) => issue.line),
        [3, 5, 7],
      );
    }
  });
});
