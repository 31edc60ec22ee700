/**
 * limitConn over real sockets, the same suite for the memory store and the Redis store: an
 * upstream that holds /hold requests until the test lets them go keeps requests in flight.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, request as httpRequest, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, type TestContext, test } from "node:test";
import { request, singleHost, startGateway } from "../../helpers/gateway.js";
import { waitFor } from "../../helpers/wait.js";
import { BACKENDS } from "../../limits/backends.js";

async function startHoldingUpstream(t: TestContext) {
  const held: ServerResponse[] = [];
  const arrived = new EventTarget();
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/hold")) {
      held.push(res);
      arrived.dispatchEvent(new Event("held"));
      return;
    }
    res.writeHead(req.url?.startsWith("/fail") ? 500 : 200, { "content-type": "text/plain" }).end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    /** Resolves once `n` requests are held. */
    async waitHeld(n: number) {
      while (held.length < n) await once(arrived, "held");
    },
    releaseAll() {
      for (const res of held.splice(0)) res.writeHead(200).end("released");
    },
  };
}

/** Asks until the answer is `status`: a slot comes back when the gateway's side of the response closes. */
async function eventually(status: number, ask: () => Promise<{ status: number }>): Promise<void> {
  let last = 0;
  await waitFor(`the answer ${status}`, async () => {
    last = (await ask()).status;
    return last === status ? true : undefined;
  }).catch(() => assert.fail(`expected ${status}, kept getting ${last}`));
}

for (const backend of BACKENDS) {
  describe(`limitConn (${backend.name} store)`, () => {
    test("refuses a request over conn in flight, and admits again once one finishes", async (t) => {
      const up = await startHoldingUpstream(t);
      const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin, limitConn: { conn: 2 } } }, await backend.top(t)));
      const first = request(`${url}/hold/1`);
      const second = request(`${url}/hold/2`);
      await up.waitHeld(2);
      const refused = await request(`${url}/quick`);
      assert.equal(refused.status, 429);
      assert.equal((JSON.parse(refused.text) as { message: string }).message, "Too many concurrent requests");
      up.releaseAll();
      assert.deepEqual([(await first).status, (await second).status], [200, 200]);
      await eventually(200, () => request(`${url}/quick`));
      // Both slots came back exactly once: two in flight again fill it, a third is refused.
      const again = [request(`${url}/hold/3`), request(`${url}/hold/4`)];
      await up.waitHeld(2);
      assert.equal((await request(`${url}/quick`)).status, 429);
      up.releaseAll();
      await Promise.all(again);
    });

    test("a slot comes back after a 5xx, a client that went away, and an exit from a later plugin or hook", async (t) => {
      const up = await startHoldingUpstream(t);
      const { url } = await startGateway(
        t,
        singleHost(
          {
            "/": { proxyPass: up.origin, limitConn: { conn: 1, key: "ip" } },
            "/counted": { proxyPass: up.origin, limitConn: { conn: 1, key: "ip" }, limitCount: { count: 1, window: "1h", key: "ip" } },
            "/hooked": { proxyPass: up.origin, limitConn: { conn: 1, key: "ip" }, access: (ctx) => ctx.exit(403) },
          },
          await backend.top(t),
        ),
      );
      // 5xx from the upstream
      assert.equal((await request(`${url}/fail`)).status, 500);
      await eventually(200, () => request(`${url}/quick`));

      // the client goes away while its request is in flight
      await new Promise<void>((resolve) => {
        const port = new URL(url).port;
        const req = httpRequest({ host: "127.0.0.1", port, path: "/hold/abort" });
        req.on("error", () => resolve());
        req.end();
        up.waitHeld(1).then(() => {
          req.destroy();
          resolve();
        });
      });
      await eventually(200, () => request(`${url}/quick`));
      up.releaseAll();

      // a later plugin (limitCount) refuses after limitConn took the slot
      assert.equal((await request(`${url}/counted/a`)).status, 200);
      assert.equal((await request(`${url}/counted/b`)).status, 429);
      assert.equal((await request(`${url}/counted/c`)).headers["ratelimit-limit"], "1"); // limitCount's refusal, not limitConn's

      // the location's own access hook stops the request
      assert.equal((await request(`${url}/hooked`)).status, 403);
      await eventually(403, () => request(`${url}/hooked`));

      // After all that, exactly one slot per location: one held request fills it.
      const held = request(`${url}/hold/last`);
      await up.waitHeld(1);
      assert.equal((await request(`${url}/quick`)).status, 429);
      up.releaseAll();
      assert.equal((await held).status, 200);
    });
  });
}
