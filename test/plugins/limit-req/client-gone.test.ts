/**
 * limitReq: a request held back by the leaky bucket (burst without nodelay) whose client has gone
 * is not sent upstream when its turn comes. nginx's limit_req delay ends in
 * ngx_http_limit_req_delay_handler, which finalizes a request whose connection is gone instead of
 * running it on (it is logged with 499, "client closed request").
 *
 * No sleeps: at 2r/s with burst 2 and the same key, request 1 goes at once, request 2 waits for
 * the bucket to leak one request (~500 ms after request 1), request 3 for two (~1000 ms). Request
 * 2's turn therefore comes before request 3's, so once request 3 has been answered, request 2
 * would have reached the upstream already if it were going to. (What the bucket needs: request 2
 * reaches the limiter before the bucket has leaked request 1, i.e. within 500 ms of it.)
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { accessLogFile, waitForRecord } from "../../helpers/logs.js";

test("a delayed request whose client has gone is not sent upstream when its delay ends", async (t) => {
  const file = await accessLogFile(t);
  const echo = await startEcho(t);
  const { gw, url, port } = await startGateway(
    t,
    singleHost({ "/": { proxyPass: echo.origin, limitReq: { rate: "2r/s", burst: 2, key: "ip" } } }, { accessLog: { path: file } }),
  );

  // Request 1: served at once; it fills the bucket.
  assert.equal((await request(`${url}/anything/r1`)).status, 200);

  // Request 2: delayed; its client sends it and leaves.
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  await new Promise((resolve) => socket.write("GET /anything/r2 HTTP/1.1\r\nHost: localhost\r\n\r\n", resolve));
  socket.destroy();
  // The gateway got it and saw its client go: nginx's 499 (client closed request).
  const gone = await waitForRecord(gw, file, "request 2", (r) => r.path === "/anything/r2");
  assert.equal(gone.status, 499);

  // Request 3: delayed past request 2's turn.
  assert.equal((await request(`${url}/anything/r3`)).status, 200);

  assert.deepEqual(
    echo.seen.map((seen) => seen.path),
    ["/anything/r1", "/anything/r3"],
    "request 2 went upstream after its client had gone",
  );
});
