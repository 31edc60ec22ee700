/** limitCount over real sockets, the same suite for the memory store and the Redis store. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { BACKENDS, burst, countOf } from "../../limits/backends.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of BACKENDS) {
  describe(`limitCount (${backend.name} store)`, () => {
    test("admits count requests per window, then 429 with Retry-After and RateLimit-*", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost({ "/": { proxyPass: echo.origin, limitCount: { count: 3, window: "1h", key: "ip" } } }, await backend.top(t)),
      );
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await request(`${url}/anything`));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 429],
      );
      assert.deepEqual(
        answers.slice(0, 3).map((a) => a.headers["ratelimit-remaining"]),
        ["2", "1", "0"],
      );
      const ok = answers[0]!;
      assert.equal(ok.headers["ratelimit-limit"], "3");
      assert.equal(ok.headers["ratelimit-policy"], "3;w=3600");
      const reset = Number(ok.headers["ratelimit-reset"]);
      assert.ok(reset >= 1 && reset <= 3600, `reset ${reset}`);
      const refused = answers[3]!;
      assert.equal(refused.headers["ratelimit-limit"], "3");
      assert.equal(refused.headers["ratelimit-remaining"], "0");
      const retry = Number(refused.headers["retry-after"]);
      assert.ok(retry >= 1 && retry <= 3600, `retry-after ${retry}`);
      assert.equal(refused.headers["content-type"], "application/json");
      const body = JSON.parse(refused.text) as { message: string; requestId: string };
      assert.equal(body.message, "API rate limit exceeded");
      assert.ok(body.requestId);
    });

    test("a configured status and message; headers: false keeps allowed responses clean", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost(
          { "/": { proxyPass: echo.origin, limitCount: { count: 1, window: "1h", status: 503, message: "slow down", headers: false } } },
          await backend.top(t),
        ),
      );
      const first = await request(`${url}/anything`);
      assert.equal(first.status, 200);
      assert.equal(first.headers["ratelimit-limit"], undefined);
      const second = await request(`${url}/anything`);
      assert.equal(second.status, 503);
      assert.equal((JSON.parse(second.text) as { message: string }).message, "slow down");
      assert.ok(second.headers["retry-after"]);
      assert.equal(second.headers["ratelimit-remaining"], "0");
    });

    test("keys are counted apart: by header (falling back to the address), by template, by hook", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost(
          {
            "/header": { proxyPass: echo.origin, limitCount: { count: 1, window: "1h", key: { header: "X-Api-Key" } } },
            "/template": { proxyPass: echo.origin, limitCount: { count: 1, window: "1h", key: "$arg_tenant/$http_x_user" } },
            "/hook": {
              proxyPass: echo.origin,
              limitCount: { count: 1, window: "1h", key: { hook: (ctx) => String(ctx.request.headers["x-user"] ?? "").split("@")[1] ?? "" } },
            },
          },
          await backend.top(t),
        ),
      );
      const get = async (path: string, headers: Record<string, string> = {}) => (await request(`${url}${path}`, { headers })).status;
      assert.equal(await get("/header", { "x-api-key": "a" }), 200);
      assert.equal(await get("/header", { "x-api-key": "b" }), 200);
      assert.equal(await get("/header", { "x-api-key": "a" }), 429);
      assert.equal(await get("/header"), 200); // no header: the client address, a key of its own
      assert.equal(await get("/header"), 429);
      assert.equal(await get("/template?tenant=1", { "x-user": "u" }), 200);
      assert.equal(await get("/template?tenant=2", { "x-user": "u" }), 200);
      assert.equal(await get("/template?tenant=1", { "x-user": "v" }), 200);
      assert.equal(await get("/template?tenant=1", { "x-user": "u" }), 429);
      assert.equal(await get("/hook", { "x-user": "ann@a.example" }), 200);
      assert.equal(await get("/hook", { "x-user": "bob@a.example" }), 429); // same domain, same key
      assert.equal(await get("/hook", { "x-user": "cy@b.example" }), 200);
    });

    test("several limits per route: the tightest refuses, and the headers describe it", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost(
          {
            "/": {
              proxyPass: echo.origin,
              limitCount: {
                limits: [
                  { count: 5, window: "1h" },
                  { count: 2, window: "1d", type: "sliding" },
                ],
              },
            },
          },
          await backend.top(t),
        ),
      );
      const first = await request(`${url}/anything`);
      assert.equal(first.headers["ratelimit-limit"], "2");
      assert.equal(first.headers["ratelimit-remaining"], "1");
      assert.equal(first.headers["ratelimit-policy"], "5;w=3600, 2;w=86400");
      assert.equal((await request(`${url}/anything`)).status, 200);
      const refused = await request(`${url}/anything`);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers["ratelimit-limit"], "2");
    });

    test("two locations with the same config count apart; one location counts concurrent requests exactly", async (t) => {
      const echo = await startEcho(t);
      const limit = { count: 10, window: "1h", key: "ip" as const };
      const { url } = await startGateway(
        t,
        singleHost({ "/a": { proxyPass: echo.origin, limitCount: limit }, "/b": { proxyPass: echo.origin, limitCount: { ...limit } } }, await backend.top(t)),
      );
      const a = await burst(25, () => request(`${url}/a`));
      assert.equal(countOf(a, 200), 10);
      assert.equal(countOf(a, 429), 15);
      assert.equal((await request(`${url}/b`)).status, 200);
    });

    test("sliding windows weigh the previous window; fixed ones start afresh", async (t) => {
      const echo = await startEcho(t);
      const windowMs = 2000;
      const { url } = await startGateway(
        t,
        singleHost(
          {
            "/fixed": { proxyPass: echo.origin, limitCount: { count: 2, window: windowMs, type: "fixed" } },
            "/sliding": { proxyPass: echo.origin, limitCount: { count: 2, window: windowMs, type: "sliding" } },
          },
          await backend.top(t),
        ),
      );
      // Fill both early in a window (Redis keeps time with this machine's clock), then ask again just after the next boundary.
      while (Date.now() % windowMs > 500) await sleep(20);
      for (const path of ["/fixed", "/sliding"]) for (let i = 0; i < 2; i++) assert.equal((await request(`${url}${path}`)).status, 200);
      assert.equal((await request(`${url}/sliding`)).status, 429);
      await sleep(windowMs - (Date.now() % windowMs) + 50);
      assert.equal((await request(`${url}/fixed`)).status, 200);
      const sliding = await request(`${url}/sliding`);
      assert.equal(sliding.status, 429);
      const retry = Number(sliding.headers["retry-after"]);
      assert.ok(retry >= 1 && retry <= 2, `retry-after ${retry}`);
    });

    test("counters survive a reload that keeps the config", async (t) => {
      const echo = await startEcho(t);
      const top = await backend.top(t);
      const config = (message: string) => singleHost({ "/": { proxyPass: echo.origin, limitCount: { count: 2, window: "1h", message } } }, top);
      const { gw, url } = await startGateway(t, config("one"));
      assert.equal((await request(`${url}/`)).status, 200);
      await gw.reload(config("two"));
      assert.equal((await request(`${url}/`)).status, 200);
      const refused = await request(`${url}/`);
      assert.equal(refused.status, 429);
      assert.equal((JSON.parse(refused.text) as { message: string }).message, "two");
    });
  });
}
