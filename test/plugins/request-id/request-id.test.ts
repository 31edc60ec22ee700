/**
 * requestId: the schema, then the id generated or trusted, sent upstream, echoed, and used as THE
 * request id (error bodies, log lines, $request_id).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createGateway } from "../../../src/gateway.js";
import { requestIdSchema } from "../../../src/plugins/request-id/schema.js";
import { closedPort, errorBody, request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("schema: defaults and bad values", () => {
  assert.deepEqual(requestIdSchema.parse({}), { headerName: "X-Request-Id", generator: "uuid", trustIncoming: false, echoDownstream: true });
  assert.equal(requestIdSchema.safeParse({ headerName: "X Request" }).success, false);
  assert.equal(requestIdSchema.safeParse({ headerName: "" }).success, false);
  assert.equal(requestIdSchema.safeParse({ generator: "random" }).success, false);
  assert.equal(requestIdSchema.safeParse({ trustIncoming: "yes" }).success, false);
  assert.equal(requestIdSchema.safeParse({ header: "X-Id" }).success, false, "unknown fields are refused");
});

test("a generated UUID goes upstream and back; a client's id is replaced unless trusted", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": { proxyPass: up.origin, requestId: {} },
      "/trusted": { proxyPass: up.origin, requestId: { trustIncoming: true, headerName: "X-Correlation-Id" } },
      "/counter": { proxyPass: up.origin, requestId: { generator: "counter", echoDownstream: false } },
    }),
  );
  const first = await request(`${url}/anything`, { headers: { "X-Request-Id": "client-made" } });
  const id = first.headers["x-request-id"] as string;
  assert.match(id, UUID);
  assert.equal(up.seen.at(-1)?.headers["x-request-id"], id, "upstream sees the gateway's id, not the client's");
  const second = await request(`${url}/anything`);
  assert.notEqual(second.headers["x-request-id"], id);

  const trusted = await request(`${url}/trusted/x`, { headers: { "X-Correlation-Id": "abc-123.4:5/6+7=8@9_z" } });
  assert.equal(trusted.headers["x-correlation-id"], "abc-123.4:5/6+7=8@9_z");
  assert.equal(up.seen.at(-1)?.headers["x-correlation-id"], "abc-123.4:5/6+7=8@9_z");
  for (const bad of ["a b", "x".repeat(201), 'quote"d', "semi;colon", "é"]) {
    const res = await request(`${url}/trusted/x`, { headers: { "X-Correlation-Id": Buffer.from(bad).toString("latin1") } });
    assert.match(res.headers["x-correlation-id"] as string, UUID, `${JSON.stringify(bad)} is not trusted`);
  }
  const longest = "y".repeat(200);
  assert.equal((await request(`${url}/trusted/x`, { headers: { "X-Correlation-Id": longest } })).headers["x-correlation-id"], longest);

  const counter = await request(`${url}/counter/x`);
  assert.equal(counter.headers["x-request-id"], undefined, "echoDownstream: false");
  assert.match(String(up.seen.at(-1)?.headers["x-request-id"]), /^[0-9a-z]+-[0-9a-z]+$/);
});

test("the id is THE request id: error bodies, log lines, hooks and $request_id", async (t) => {
  const logs = captureLogs();
  const dead = await closedPort();
  const gw = await createGateway(
    {
      listen: "127.0.0.1:0",
      requestId: { trustIncoming: true },
      virtualHosts: {
        localhost: {
          default: true,
          locations: {
            "/dead": { proxyPass: `http://127.0.0.1:${dead}` },
            "/throw": { content: "throw new Error('boom')" },
            "/hook": { content: "return { id: ctx.requestId }" },
            "/var": { return: "200 $request_id" },
            "/exit": { access: "return ctx.exit(401, { message: 'no', requestId: ctx.requestId })", return: "200" },
          },
        },
      },
    },
    { logger: logs.logger },
  );
  t.after(() => gw.close());
  const [address] = await gw.listen();
  const url = (address as { url: string }).url;

  const dead502 = await request(`${url}/dead`, { headers: { "X-Request-Id": "trace-502" } });
  assert.equal(dead502.status, 502);
  assert.equal(errorBody(dead502).requestId, "trace-502", "the proxy's error body");
  assert.ok(
    logs.lines.some((line) => line.requestId === "trace-502" && line.code === "PTC_ERR_UPSTREAM_UNAVAILABLE"),
    "the proxy's log line",
  );

  const thrown = await request(`${url}/throw`, { headers: { "X-Request-Id": "trace-500" } });
  assert.equal(thrown.status, 500);
  assert.equal(errorBody(thrown).requestId, "trace-500");
  assert.ok(logs.lines.some((line) => line.requestId === "trace-500" && line.code === "PTC_ERR_HOOK_FAILED"));

  assert.deepEqual(JSON.parse((await request(`${url}/hook`, { headers: { "X-Request-Id": "trace-hook" } })).text), { id: "trace-hook" });
  const variable = await request(`${url}/var`, { headers: { "X-Request-Id": "trace-var" } });
  assert.equal(variable.text, "trace-var");
  assert.equal(variable.headers["x-request-id"], "trace-var");
  const exit = await request(`${url}/exit`, { headers: { "X-Request-Id": "trace-exit" } });
  assert.equal(exit.status, 401);
  assert.equal(exit.headers["x-request-id"], "trace-exit", "echoed on an exit too");
  assert.equal(JSON.parse(exit.text).requestId, "trace-exit");
});
