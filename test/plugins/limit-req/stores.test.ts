/** limitReq over real sockets, the same suite for the memory store and the Redis store. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { BACKENDS, burst, countOf } from "../../limits/backends.js";

async function timed(url: string, headers: Record<string, string> = {}): Promise<{ status: number; ms: number; headers: Record<string, unknown> }> {
  const started = performance.now();
  const result = await request(url, { headers });
  return { status: result.status, ms: performance.now() - started, headers: result.headers };
}

for (const backend of BACKENDS) {
  describe(`limitReq (${backend.name} store)`, () => {
    test("nodelay: the burst passes at once, the rest is refused with Retry-After", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost({ "/": { proxyPass: echo.origin, limitReq: { rate: "1r/m", burst: 3, nodelay: true } } }, await backend.top(t)),
      );
      const answers = await Promise.all(Array.from({ length: 6 }, () => timed(`${url}/anything`)));
      const statuses = answers.map((a) => a.status).sort();
      assert.equal(countOf(statuses, 200), 4);
      assert.equal(countOf(statuses, 429), 2);
      const refused = answers.find((a) => a.status === 429);
      const retry = Number(refused?.headers["retry-after"]);
      assert.ok(retry >= 1 && retry <= 63, `retry-after ${retry}`); // 1r/m is 16 per 1000 s in nginx: 62.5 s
      assert.equal(refused?.headers["ratelimit-limit"], "4");
      assert.equal(refused?.headers["ratelimit-remaining"], "0");
    });

    test("without nodelay the burst is delayed, spaced at the rate, and what is over it refused", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(t, singleHost({ "/": { proxyPass: echo.origin, limitReq: { rate: "10r/s", burst: 2 } } }, await backend.top(t)));
      const answers = await Promise.all(Array.from({ length: 4 }, () => timed(`${url}/anything`)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 429]);
      const served = answers
        .filter((a) => a.status === 200)
        .map((a) => a.ms)
        .sort((a, b) => a - b);
      // Excess 1000 and 2000 milli-requests at 10r/s wait about 100 ms and 200 ms.
      assert.ok((served[1] as number) >= 60, `second waited ${served[1]} ms`);
      assert.ok((served[2] as number) >= 150, `third waited ${served[2]} ms`);
    });

    test("delay: the first excess requests pass at once, the rest of the burst waits (two-stage)", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost({ "/": { proxyPass: echo.origin, limitReq: { rate: "5r/s", burst: 3, delay: 1 } } }, await backend.top(t)),
      );
      const answers = await Promise.all(Array.from({ length: 5 }, () => timed(`${url}/anything`)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 429]);
      const served = answers
        .filter((a) => a.status === 200)
        .map((a) => a.ms)
        .sort((a, b) => a - b);
      // Excess 2000 and 3000 with delay=1 wait (2000-1000)/5 = 200 ms and 400 ms; the first two do not wait.
      assert.ok((served[2] as number) >= 150, `third waited ${served[2]} ms`);
      assert.ok((served[3] as number) >= 300, `fourth waited ${served[3]} ms`);
      assert.ok((served[1] as number) < (served[3] as number) - 150, `second ${served[1]} ms, fourth ${served[3]} ms`);
    });

    test("keys are counted apart, and the status is configurable", async (t) => {
      const echo = await startEcho(t);
      const { url } = await startGateway(
        t,
        singleHost({ "/": { proxyPass: echo.origin, limitReq: { rate: "1r/m", key: { header: "X-Api-Key" }, status: 503 } } }, await backend.top(t)),
      );
      const a = await burst(3, () => request(`${url}/`, { headers: { "x-api-key": "a" } }));
      const b = await burst(3, () => request(`${url}/`, { headers: { "x-api-key": "b" } }));
      assert.deepEqual(a, [200, 503, 503]);
      assert.deepEqual(b, [200, 503, 503]);
    });
  });
}
