/**
 * The config side of the library: createGateway(path) and createGateway(object), checkConfig,
 * and defineConfig's types (this file is type-checked with the rest of test/).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, checkConfig, createGateway, defineConfig, type Gateway, type PorticoConfig } from "../../src/index.js";
import { type EchoUpstream, startEchoUpstream } from "../fixtures/echo-upstream.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/configs/", import.meta.url));
const quiet = { env: { PORTICO_LOG_LEVEL: "silent" } };

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    const gateway = await promise;
    await (gateway as Gateway).close();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail("no ConfigError");
}

describe("createGateway(path) on an invalid file", () => {
  test("throws ConfigError whose issues carry file, line, column and path", async () => {
    const file = path.join(FIXTURES, "bad", "misspelt.yaml");
    const error = await configError(createGateway(file, quiet));
    assert.equal(error.code, "PTC_ERR_CONFIG_INVALID");
    assert.equal(error.issues.length, 6);
    assert.deepEqual(error.issues[2], {
      file,
      line: 11,
      column: 9,
      path: "virtualHosts.other.locations./.retrun",
      message: 'unknown field "retrun": did you mean "return"?',
      severity: "error",
    });
    assert.equal(error.message.split("\n")[2], `${file}:11:9  virtualHosts.other.locations./.retrun  unknown field "retrun": did you mean "return"?`);
  });

  test("compile errors too, with their codes", async () => {
    const file = path.join(FIXTURES, "bad", "locations.yaml");
    const error = await configError(createGateway(file, quiet));
    assert.equal(error.code, "PTC_ERR_CONFIG_INVALID");
    assert.equal(error.issues.length, 11);
    assert.ok(error.issues.every((issue) => issue.file === file && issue.line > 0 && issue.column > 0 && issue.path.startsWith("virtualHosts.")));
    assert.equal((await configError(createGateway(path.join(FIXTURES, "bad", "yaml-syntax.yaml"), quiet))).code, "PTC_ERR_CONFIG_PARSE");
    assert.equal((await configError(createGateway(path.join(FIXTURES, "bad", "env.yaml"), quiet))).code, "PTC_ERR_CONFIG_ENV");
    assert.equal((await configError(createGateway(path.join(FIXTURES, "nope.yaml"), quiet))).code, "PTC_ERR_CONFIG_READ");
  });
});

describe("createGateway(object)", () => {
  test("function hooks at every phase, in order, sharing ctx.store", async () => {
    const gateway = await createGateway(
      defineConfig({
        vars: { greeting: "hello" },
        virtualHosts: {
          localhost: {
            default: true,
            locations: {
              "/fn": {
                rewrite: (ctx) => {
                  ctx.store.set("phases", ["rewrite"]);
                },
                access: (ctx) => {
                  (ctx.store.get("phases") as string[]).push("access");
                  if (ctx.request.headers["x-deny"]) return ctx.exit(403, { message: "denied" });
                  return undefined;
                },
                content: (ctx) => {
                  (ctx.store.get("phases") as string[]).push("content");
                  return { greeting: ctx.vars.greeting, path: ctx.request.path, phases: ctx.store.get("phases") };
                },
                headerFilter: (ctx) => {
                  ctx.response.headers["x-phases"] = [...(ctx.store.get("phases") as string[]), "headerFilter"].join(",");
                },
              },
            },
          },
        },
      }),
      quiet,
    );
    try {
      const res = await gateway.inject({ url: "/fn/a" });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { greeting: "hello", path: "/fn/a", phases: ["rewrite", "access", "content"] });
      assert.equal(res.headers["x-phases"], "rewrite,access,content,headerFilter");
      const denied = await gateway.inject({ url: "/fn", headers: { "x-deny": "1" } });
      assert.equal(denied.status, 403);
      assert.deepEqual(denied.json(), { message: "denied" });
      assert.deepEqual(gateway.table.locations[0]?.hooks, [
        "rewrite: function rewrite",
        "access: function access",
        "content: function content",
        "headerFilter: function headerFilter",
      ]);
    } finally {
      await gateway.close();
    }
  });

  test("an invalid object: ConfigError with the field paths, and no position", async () => {
    const error = await configError(createGateway({ virtualHosts: { a: { locations: { "/": { retrun: 200 } as never } } } }, quiet));
    assert.deepEqual(
      error.issues.map((issue) => [issue.file, issue.line, issue.column, issue.path]),
      [["<inline>", 0, 0, "virtualHosts.a.locations./.retrun"]],
    );
    assert.equal(error.message, '<inline>  virtualHosts.a.locations./.retrun  unknown field "retrun": did you mean "return"?');
  });

  test("a hook that is not a function, a module path or a snippet", async () => {
    const error = await configError(createGateway({ virtualHosts: { a: { locations: { "/": { content: 42 as never } } } } }, quiet));
    assert.equal(error.issues[0]?.path, "virtualHosts.a.locations./.content");
  });
});

describe("the same setup in YAML, JSON, TypeScript and JavaScript", () => {
  let upstream: EchoUpstream;
  before(async () => {
    upstream = await startEchoUpstream();
  });
  after(() => upstream.close());

  for (const name of ["basic.yaml", "basic.json", "basic.ts", "basic.mjs"]) {
    test(`${name} answers alike`, async () => {
      const env = { PORTICO_LOG_LEVEL: "silent", PORTICO_TEST_UPSTREAM: `${upstream.origin}/` };
      const saved = process.env.PORTICO_TEST_UPSTREAM;
      process.env.PORTICO_TEST_UPSTREAM = env.PORTICO_TEST_UPSTREAM; // basic.ts reads process.env itself
      let gateway: Gateway;
      try {
        gateway = await createGateway(path.join(FIXTURES, name), { env });
      } finally {
        if (saved === undefined) delete process.env.PORTICO_TEST_UPSTREAM;
        else process.env.PORTICO_TEST_UPSTREAM = saved;
      }
      try {
        const root = await gateway.inject({ url: "/" });
        assert.deepEqual([root.status, root.body], [200, "basic"]);
        const hello = await gateway.inject({ url: "/hello" });
        assert.equal(hello.status, 200);
        assert.equal(hello.headers["content-type"], "application/json");
        assert.deepEqual(hello.json(), { hello: "/hello" });
        const proxied = await gateway.inject({ url: "/api/anything?x=1" });
        assert.equal(proxied.status, 200);
        assert.equal(proxied.json<{ url: string }>().url, "/anything?x=1");
        assert.deepEqual(gateway.table.listen, [{ host: "127.0.0.1", port: 0, ssl: false }]);
      } finally {
        await gateway.close();
      }
    });
  }
});

test("checkConfig resolves with the warnings", async () => {
  const { warnings } = await checkConfig(path.join(FIXTURES, "warnings.yaml"));
  assert.deepEqual(
    warnings.map((warning) => [warning.line, warning.path, warning.severity]),
    [
      [4, "upstreams.unused", "warning"],
      [13, "virtualHosts.localhost.locations./.proxySetHeader", "warning"],
      [15, "virtualHosts.localhost.locations./app.proxyPass", "warning"],
      [17, "virtualHosts.localhost.locations./named/.proxyPass", "warning"],
    ],
  );
});

test("defineConfig types a config and returns it as it is", () => {
  const config = defineConfig({
    listen: ["127.0.0.1:0", { addr: "::1", port: 0 }],
    upstreams: { api: { servers: { "127.0.0.1:9001": { weight: 2 }, "127.0.0.1:9002": {} }, keepalive: 8 } },
    virtualHosts: {
      localhost: {
        default: true,
        serverAliases: ["*.localhost"],
        locations: {
          "= /health": { return: 204 },
          "/api/": { proxyPass: "http://api/", proxyReadTimeout: "5s", recommendedProxySettings: true, proxySetHeader: { "X-Request-Id": "$request_id" } },
          "~* \\.png$": { content: () => "png", addHeader: { "Cache-Control": "max-age=60" } },
        },
      },
    },
  });
  const typed: PorticoConfig = config;
  assert.equal(typed, config);
  // @ts-expect-error: virtualHosts is required
  defineConfig({ listen: 8080 });
  // @ts-expect-error: clientMaxBodySize is a size string or a number of bytes
  defineConfig({ virtualHosts: {}, clientMaxBodySize: true });
  // @ts-expect-error: a hook is a function or a string
  defineConfig({ virtualHosts: { a: { locations: { "/": { content: 42 } } } } });
});
