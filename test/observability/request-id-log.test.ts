/**
 * With requestId, the access log's requestId is the id the request carries: the one sent upstream
 * and echoed in X-Request-Id (the client's own when trusted), as nginx logs $request_id and Kong's
 * correlation-id shows in its log serializer. One request, one id, wherever it is read.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { accessLogFile, waitForRecords } from "../helpers/logs.js";

test("the access record's requestId is the X-Request-Id of the response and of the upstream request (generated, then trusted)", async (t) => {
  const file = await accessLogFile(t);
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      {
        "/gen/": { proxyPass: `${echo.origin}/`, requestId: {} },
        "/trusted/": { proxyPass: `${echo.origin}/`, requestId: { trustIncoming: true } },
        "/return": { return: "200 'ok'", requestId: {} },
      },
      { accessLog: { path: file } },
    ),
  );
  const generated = await request(`${url}/gen/anything`);
  const generatedId = generated.headers["x-request-id"];
  assert.equal(typeof generatedId, "string");
  assert.equal(echo.seen[0]?.headers["x-request-id"], generatedId);
  const trusted = await request(`${url}/trusted/anything`, { headers: { "X-Request-Id": "client-trace-42" } });
  assert.equal(trusted.headers["x-request-id"], "client-trace-42");
  const returned = await request(`${url}/return`);
  const returnedId = returned.headers["x-request-id"];
  assert.equal(typeof returnedId, "string");

  // By location: each record is written when its response closes on the server, not in a set order.
  const logged = Object.fromEntries((await waitForRecords(gw, file, 3)).map((record) => [record.location, record.requestId]));
  assert.deepEqual(
    logged,
    { "/gen/": generatedId, "/trusted/": "client-trace-42", "/return": returnedId },
    "the access log has another id than the one the response carries",
  );
});
