/** limitCount over real sockets, the same suite for the memory store and the Redis store. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { waitFor } from "../../helpers/wait.js";
import { BACKENDS, burst, countOf } from "../../limits/backends.js";

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
      const windowMs = 2000;
      // Early in a window: fill both, then ask again just after the next boundary, where the
      // sliding window still weighs the previous one at (1 - 50/2000) and refuses.
      const earlyInWindow = (Math.floor(Date.now() / windowMs) + 1) * windowMs + 100;
      // The memory store's clock is Date.now(): the test sets it and moves it. (Timers stay real.)
      if (backend.name === "memory") t.mock.timers.enable({ apis: ["Date"], now: earlyInWindow });
      const echo = await startEcho(t);
      const limit = (type: "fixed" | "sliding") => ({ count: 2, window: windowMs, type, key: { header: "X-Round" } });
      const { url } = await startGateway(
        t,
        singleHost(
          { "/fixed": { proxyPass: echo.origin, limitCount: limit("fixed") }, "/sliding": { proxyPass: echo.origin, limitCount: limit("sliding") } },
          await backend.top(t),
        ),
      );
      const window = (ms: number) => Math.floor(ms / windowMs);

      // Redis keeps time with its own clock (TIME: this machine's), which the test cannot move: it
      // waits for the moment each step needs, and checks afterwards that the step landed there. A
      // round that a busy machine pushed past its place is not judged; it is played again with a
      // fresh key (X-Round), and only a round played where it should be counts.
      for (let round = 1; ; round++) {
        const headers = { "x-round": String(round) };
        const ask = (path: string) => request(`${url}${path}`, { headers });
        if (backend.name === "redis") await waitFor("the start of a window", () => (Date.now() % windowMs <= 500 ? true : undefined));
        const filling = window(Date.now());
        const fill = [];
        for (const path of ["/fixed", "/fixed", "/sliding", "/sliding", "/sliding"]) fill.push((await ask(path)).status);
        const filled = Date.now();

        if (backend.name === "memory") t.mock.timers.tick(windowMs - (earlyInWindow % windowMs) + 50);
        else await waitFor("the next window", () => (window(Date.now()) > window(filled) ? true : undefined));
        const fixed = await ask("/fixed");
        const sliding = await ask("/sliding");
        const asked = Date.now();

        const placed = window(filled) === filling && window(asked) === filling + 1 && asked % windowMs < windowMs / 2;
        if (!placed) {
          assert.equal(backend.name, "redis", "the memory store's clock is the test's");
          assert.ok(round < 10, "ten rounds in a row could not be placed in their windows");
          t.diagnostic(`round ${round} pushed out of its window by a busy machine: played again`);
          continue;
        }
        assert.deepEqual(fill, [200, 200, 200, 200, 429]);
        assert.equal(fixed.status, 200);
        assert.equal(sliding.status, 429);
        const retry = Number(sliding.headers["retry-after"]);
        assert.ok(retry >= 1 && retry <= 2, `retry-after ${retry}`);
        break;
      }
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
