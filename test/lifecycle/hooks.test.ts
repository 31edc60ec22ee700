/**
 * Hooks at the places Lua runs: rewrite, access, content, headerFilter, bodyFilter, log; from
 * functions, module paths and inline snippets; a throwing hook is a 500 and a log line.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  type BodyFilterContext,
  type Context,
  createGateway,
  definePlugin,
  type Gateway,
  type HeaderFilterContext,
  type LogContext,
  type PorticoConfig,
} from "../../src/index.js";
import { type EchoUpstream, startEchoUpstream } from "../fixtures/echo-upstream.js";
import { captureLogs } from "../helpers/logs.js";
import { waitFor } from "../helpers/wait.js";

let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream();
});
after(() => upstream.close());

const gateways: Gateway[] = [];
after(() => Promise.all(gateways.map((gw) => gw.close())));

async function gatewayFor(locations: Record<string, unknown>, extra: Partial<PorticoConfig> = {}, options: Parameters<typeof createGateway>[1] = {}) {
  const { logger, lines } = captureLogs();
  const gw = await createGateway({ listen: "127.0.0.1:0", ...extra, virtualHosts: { localhost: { default: true, locations } } } as PorticoConfig, {
    logger,
    ...options,
  });
  gateways.push(gw);
  return { gw, lines };
}

test("rewrite: a changed path goes upstream whole, as after nginx's rewrite … break", async () => {
  const { gw } = await gatewayFor({
    "/old": {
      proxyPass: `${upstream.origin}/ignored/`,
      rewrite: (ctx: Context) => {
        ctx.request.path = ctx.request.path.replace(/^\/old/, "/new");
      },
    },
  });
  const res = await gw.inject({ url: "/old/a%20b?q=1" });
  assert.equal(res.status, 200);
  assert.equal(res.json<{ url: string }>().url, "/new/a%20b?q=1");
});

test("rewrite and access hooks can change the headers that go upstream", async () => {
  const { gw } = await gatewayFor({
    "/": {
      proxyPass: upstream.origin,
      access: (ctx: Context) => {
        ctx.request.headers["x-added"] = "yes";
        delete ctx.request.headers["x-secret"];
      },
    },
  });
  const res = await gw.inject({ url: "/anything", headers: { "x-secret": "s" } });
  const seen = res.json<{ headers: Record<string, string> }>().headers;
  assert.equal(seen["x-added"], "yes");
  assert.equal(seen["x-secret"], undefined);
});

test("access: ctx.exit stops the request before the upstream", async () => {
  const { gw } = await gatewayFor({
    "/private": {
      proxyPass: upstream.origin,
      access: (ctx: Context) => (ctx.request.headers["x-key"] === "open" ? undefined : ctx.exit(401, { message: "No API key found in request" })),
    },
  });
  const seen = upstream.seen.length;
  const denied = await gw.inject({ url: "/private/x" });
  assert.equal(denied.status, 401);
  assert.deepEqual(denied.json(), { message: "No API key found in request" });
  assert.equal(denied.headers["content-type"], "application/json");
  assert.equal(upstream.seen.length, seen, "the upstream saw nothing");
  const allowed = await gw.inject({ url: "/private/x", headers: { "x-key": "open" } });
  assert.equal(allowed.status, 200);
});

test("access: an async hook reads the JSON body, and the same body still goes upstream", async () => {
  const { gw } = await gatewayFor({
    "/orders": {
      proxyPass: upstream.origin,
      clientMaxBodySize: "10k",
      access: async (ctx: Context) => {
        const order = await ctx.request.json<{ qty: number }>();
        if (order.qty > 10) return ctx.exit(422, { message: "too many" });
        ctx.store.set("qty", order.qty);
        return undefined;
      },
      headerFilter: (ctx: HeaderFilterContext) => {
        ctx.response.headers["x-qty"] = String(ctx.store.get("qty"));
      },
    },
  });
  const refused = await gw.inject({ method: "POST", url: "/orders", body: { qty: 11 } });
  assert.equal(refused.status, 422);
  const res = await gw.inject({ method: "POST", url: "/orders", body: { qty: 2 } });
  assert.equal(res.status, 200);
  assert.equal(res.headers["x-qty"], "2", "ctx.store is shared between phases");
  assert.equal(res.json<{ body: string }>().body, '{"qty":2}');
  const big = await gw.inject({
    method: "POST",
    url: "/orders",
    body: JSON.stringify({ qty: 1, pad: "x".repeat(20_000) }),
    headers: { "content-type": "application/json" },
  });
  assert.equal(big.status, 413);
});

test("content: strings use defaultType, objects are JSON, Response and Buffer pass through", async () => {
  const { gw } = await gatewayFor(
    {
      "/text": { defaultType: "text/plain", content: () => "plain" },
      "/json": { content: () => ({ ok: true }) },
      "/created": {
        content: (ctx: Context) => {
          ctx.response.status = 201;
          ctx.response.headers["x-id"] = "7";
          return { id: 7 };
        },
      },
      "/response": { content: () => new Response("from Response", { status: 202, headers: { "content-type": "text/x-custom", "set-cookie": "a=1" } }) },
      "/bytes": { content: () => Buffer.from([1, 2, 3]) },
      "/empty": { content: () => undefined },
      "/vars": { content: (ctx: Context) => ({ region: ctx.vars.region, location: ctx.location.key, host: ctx.virtualHost.name }) },
      "~ ^/items/(?<id>\\d+)$": { content: (ctx: Context) => ({ captures: ctx.location.captures }) },
    },
    { vars: { region: "eu" } },
  );

  const text = await gw.inject({ url: "/text" });
  assert.equal(text.body, "plain");
  assert.equal(text.headers["content-type"], "text/plain");
  assert.equal(text.headers["content-length"], "5");
  const json = await gw.inject({ url: "/json" });
  assert.equal(json.headers["content-type"], "application/json");
  assert.equal(json.body, '{"ok":true}\n');
  const created = await gw.inject({ url: "/created" });
  assert.equal(created.status, 201);
  assert.equal(created.headers["x-id"], "7");
  const response = await gw.inject({ url: "/response" });
  assert.equal(response.status, 202);
  assert.equal(response.body, "from Response");
  assert.equal(response.headers["content-type"], "text/x-custom");
  assert.equal(response.headers["set-cookie"], "a=1");
  const bytes = await gw.inject({ url: "/bytes" });
  assert.deepEqual([...bytes.rawBody], [1, 2, 3]);
  assert.equal(bytes.headers["content-type"], "application/octet-stream");
  const empty = await gw.inject({ url: "/empty" });
  assert.equal(empty.status, 200);
  assert.equal(empty.body, "");
  assert.deepEqual((await gw.inject({ url: "/vars" })).json(), { region: "eu", location: "/vars", host: "localhost" });
  assert.deepEqual((await gw.inject({ url: "/items/42" })).json(), { captures: ["/items/42", "42"] });
});

test("headerFilter and bodyFilter change a proxied response, streamed", async () => {
  const { gw } = await gatewayFor({
    "/": {
      proxyPass: upstream.origin,
      headerFilter: (ctx: HeaderFilterContext) => {
        ctx.response.headers["x-filtered"] = "1";
        delete ctx.response.headers.etag;
      },
      bodyFilter: (ctx: BodyFilterContext) => {
        if (ctx.chunk) ctx.chunk = Buffer.from(ctx.chunk.toString("latin1").toUpperCase(), "latin1");
        if (ctx.eof) ctx.chunk = Buffer.from("<END>");
      },
    },
  });
  const res = await gw.inject({ url: "/drip?n=3&interval=5" });
  assert.equal(res.status, 200);
  assert.equal(res.headers["x-filtered"], "1");
  assert.equal(res.body, "CHUNK 3\nCHUNK 2\nCHUNK 1\n<END>");
  const etag = await gw.inject({ url: "/etag" });
  assert.equal(etag.headers.etag, undefined);
  assert.equal(etag.headers["content-length"], undefined, "a body filter may change the length: sent chunked");
  assert.equal(etag.body, "HELLO<END>");
});

test("headerFilter and bodyFilter also see content and return responses", async () => {
  const { gw } = await gatewayFor({
    "/": {
      return: "200 'hello'",
      headerFilter: (ctx: HeaderFilterContext) => {
        ctx.response.status = 203;
      },
      bodyFilter: (ctx: BodyFilterContext) => {
        if (ctx.chunk) ctx.chunk = Buffer.from(ctx.chunk.toString().toUpperCase());
      },
    },
  });
  const res = await gw.inject({ url: "/" });
  assert.equal(res.status, 203);
  assert.equal(res.body, "HELLO");
});

test("log runs after the response is sent and sees the final status", async () => {
  const logged: Array<{ status: number; path: string }> = [];
  let resolveLogged: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveLogged = resolve;
  });
  const { gw } = await gatewayFor({
    "/": {
      return: "204",
      log: (ctx: LogContext) => {
        logged.push({ status: ctx.response.status, path: ctx.request.path });
        resolveLogged();
      },
    },
  });
  const res = await gw.inject({ url: "/x" });
  assert.equal(res.status, 204);
  await done;
  assert.deepEqual(logged, [{ status: 204, path: "/x" }]);
});

test("a hook that throws gives a 500 and a log line naming it, in every phase; the next request is served", async () => {
  const boom = () => {
    throw new Error("boom");
  };
  const { gw, lines } = await gatewayFor({
    "/rewrite": { return: "200 'ok'", rewrite: boom },
    "/access": { return: "200 'ok'", access: async () => Promise.reject(new Error("async boom")) },
    "/content": { content: boom },
    "/header": { proxyPass: upstream.origin, headerFilter: boom },
    "/body": { proxyPass: upstream.origin, bodyFilter: boom },
    "/body-stream": { content: () => new Response("streamed"), bodyFilter: boom },
    "/body-late": {
      proxyPass: upstream.origin,
      bodyFilter: (ctx: BodyFilterContext) => {
        if (ctx.eof) throw new Error("late boom");
      },
    },
    "/log": { return: "200 'ok'", log: boom },
    "/fine": { return: "200 'fine'" },
  });
  for (const phase of ["rewrite", "access", "content", "header", "body", "body-stream"]) {
    // (the status and headers wait for the first body-filtered bytes, so a throw on the first chunk is still a 500)
    const res = await gw.inject({ url: `/${phase}` });
    assert.equal(res.status, 500, phase);
    assert.match(res.json<{ requestId: string }>().requestId, /\S+/);
    const line = lines.find((entry) => entry.code === "PTC_ERR_HOOK_FAILED" && String(entry.location) === `/${phase}`);
    assert.ok(line, `a log line for ${phase}`);
    assert.match(
      String(line.hook),
      new RegExp(`location "/${phase}" ${phase === "header" ? "headerFilter" : phase.startsWith("body") ? "bodyFilter" : phase}`),
    );
    assert.equal((line.err as { message: string }).message.includes("boom"), true);
  }
  // Once filtered bytes went out, the only honest answer left is to cut the connection.
  await assert.rejects(gw.inject({ url: "/body-late/drip?n=2&interval=5" }), /destroyed/);
  assert.ok(lines.some((entry) => entry.code === "PTC_ERR_HOOK_FAILED" && String(entry.hook).includes('"/body-late" bodyFilter')));
  const log = await gw.inject({ url: "/log" });
  assert.equal(log.status, 200, "a throwing log hook cannot change a response already sent");
  // The log phase runs after the response went out: wait for its line.
  await waitFor("the log hook's error line", () => lines.find((entry) => String(entry.hook).includes('"/log" log')));
  assert.equal((await gw.inject({ url: "/fine" })).body, "fine");
});

test("YAML-style hooks: module paths, #named exports, TypeScript modules and inline snippets", async () => {
  const hooks = fileURLToPath(new URL("../fixtures/hooks/", import.meta.url));
  const { logger } = captureLogs();
  const gw = await createGateway(
    {
      virtualHosts: {
        localhost: {
          locations: {
            "/named": { content: `${hooks}named.js`, headerFilter: `${hooks}named.js#stamp` },
            "/typed": { content: `${hooks}typed.ts` },
            "/proxy": {
              proxyPass: `${upstream.origin}/`,
              headerFilter: "if (ctx.request.method === 'POST' && ctx.response.status === 200) ctx.response.status = 201",
            },
            "/inline": { content: "const n = Number(ctx.request.query.get('n')); return { double: n * 2 }" },
            "/inline-async": { content: "await new Promise((r) => setTimeout(r, 1)); return 'waited'" },
          },
        },
      },
    },
    { logger },
  );
  gateways.push(gw);
  const named = await gw.inject({ url: "/named" });
  assert.equal(named.body, "default export");
  assert.equal(named.headers["x-stamp"], "named-export");
  assert.deepEqual((await gw.inject({ url: "/typed/x", method: "PUT" })).json(), { path: "/typed/x", method: "PUT" });
  assert.equal((await gw.inject({ method: "POST", url: "/proxy/anything" })).status, 201);
  assert.equal((await gw.inject({ method: "GET", url: "/proxy/anything" })).status, 200);
  assert.deepEqual((await gw.inject({ url: "/inline?n=21" })).json(), { double: 42 });
  assert.equal((await gw.inject({ url: "/inline-async" })).body, "waited");
});

test("locations without hooks or plugins skip the phase engine", async () => {
  const { gw } = await gatewayFor({
    "/plain": { proxyPass: upstream.origin },
    "/ret": { return: "200 'x'" },
    "/hooked": { proxyPass: upstream.origin, headerFilter: () => undefined },
  });
  const fast = Object.fromEntries(gw.table.locations.map((loc) => [loc.key, loc.fastPath]));
  assert.deepEqual(fast, { "/plain": true, "/ret": true, "/hooked": false });
});

test("plugins: priority order, nearest scope wins, false switches an inherited one off", async () => {
  const order: string[] = [];
  const tag = definePlugin({
    name: "tagHeader",
    priority: 2000,
    schema: z.strictObject({ value: z.string() }),
    access: (ctx, conf) => {
      order.push(`tag:${conf.value}`);
      ctx.request.headers["x-tag"] = conf.value;
    },
  });
  const guard = definePlugin({
    name: "guard",
    priority: 3000,
    schema: z.strictObject({ header: z.string() }),
    init: (conf) => ({ header: conf.header.toLowerCase() }),
    access: (ctx, conf) => {
      order.push("guard");
      return ctx.request.headers[conf.header] ? undefined : ctx.exit(403, { message: "forbidden" });
    },
  });
  const { logger } = captureLogs();
  const gw = await createGateway(
    {
      tagHeader: { value: "global" },
      virtualHosts: {
        localhost: {
          guard: { header: "X-Pass" },
          locations: {
            "/a": { proxyPass: upstream.origin, access: (ctx: Context) => void order.push(`hook:${ctx.request.headers["x-tag"]}`) },
            "/b": { proxyPass: upstream.origin, tagHeader: { value: "local" }, guard: false },
            "/c": { proxyPass: upstream.origin, tagHeader: false, guard: false },
          },
        },
      },
    } as PorticoConfig,
    { logger, plugins: [tag, guard] },
  );
  gateways.push(gw);
  assert.equal((await gw.inject({ url: "/a" })).status, 403);
  assert.deepEqual(order, ["guard"]);
  order.length = 0;
  const a = await gw.inject({ url: "/a", headers: { "x-pass": "1" } });
  assert.equal(a.json<{ headers: Record<string, string> }>().headers["x-tag"], "global");
  assert.deepEqual(order, ["guard", "tag:global", "hook:global"], "higher priority first; the location's own hook last");
  const b = await gw.inject({ url: "/b" });
  assert.equal(b.json<{ headers: Record<string, string> }>().headers["x-tag"], "local");
  const c = await gw.inject({ url: "/c" });
  assert.equal(c.json<{ headers: Record<string, string> }>().headers["x-tag"], undefined);
  assert.equal(gw.table.locations.find((loc) => loc.key === "/c")?.fastPath, true);
});

test("definePlugin refuses a bad definition, and two plugins cannot share a priority", async () => {
  assert.throws(() => definePlugin({ name: "Bad-Name", priority: 10, schema: z.object({}) }), /camelCase/);
  assert.throws(() => definePlugin({ name: "ok", priority: 0, schema: z.object({}) }), /priority/);
  assert.throws(() => definePlugin({ name: "ok", priority: 5, schema: z.object({}), acess: () => undefined } as never), /unknown field "acess"/);
  const one = definePlugin({ name: "one", priority: 5, schema: z.object({}) });
  const two = definePlugin({ name: "two", priority: 5, schema: z.object({}) });
  await assert.rejects(createGateway({ virtualHosts: { a: { locations: { "/": { return: 200 } } } } }, { plugins: [one, two] }), /share priority 5/);
});
