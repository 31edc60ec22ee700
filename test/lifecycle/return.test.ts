/**
 * nginx's `return`: text with the default type, redirects with variables, bare codes with a
 * status page, 444 closing the connection, and add_header's status rule.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { createGateway, type Gateway } from "../../src/index.js";
import { captureLogs } from "../helpers/logs.js";

let gw: Gateway;
let base: string;

before(async () => {
  gw = await createGateway(
    {
      listen: "127.0.0.1:0",
      vars: { region: "eu-west" },
      virtualHosts: {
        localhost: {
          defaultType: "text/plain",
          locations: {
            "/": { return: "200 'Hello World!'" },
            "/typed": { return: "200 '{\"ok\":true}'", defaultType: "application/json" },
            "/moved": { return: "301 https://$host$request_uri", addHeader: { "X-Why": "moved" } },
            "/found": { return: "https://example.com/new" },
            "/relative": { return: "301 /moved/$arg_to" },
            "/gone": { return: 410, addHeader: { "X-Plain": "no", "X-Always": "yes always" } },
            "/empty": { return: "204" },
            "/vars": { return: "200 '$region $uri $arg_q $request_method'" },
            "~ ^/user/(\\d+)$": { return: "200 'user $1'" },
            "/close": { return: 444 },
          },
        },
      },
    },
    { logger: captureLogs().logger },
  );
  const [address] = await gw.listen();
  assert.ok(address);
  base = address.url;
});
after(() => gw.close());

test("text gets the location's defaultType and an exact Content-Length", async () => {
  const res = await gw.inject({ url: "/" });
  assert.equal(res.status, 200);
  assert.equal(res.body, "Hello World!");
  assert.equal(res.headers["content-type"], "text/plain");
  assert.equal(res.headers["content-length"], "12");
  assert.equal(res.headers.server, "portico");
  assert.equal((await gw.inject({ url: "/typed" })).headers["content-type"], "application/json");
});

test("redirects: Location with variables, an nginx-style page, addHeader on 3xx", async () => {
  const moved = await gw.inject({ url: "/moved/a?b=1", headers: { host: "Example.COM:8080" } });
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.location, "https://example.com/moved/a?b=1");
  assert.equal(moved.headers["x-why"], "moved");
  assert.match(moved.body, /<title>301 Moved Permanently<\/title>/);
  // A relative target is made absolute, as nginx's absolute_redirect does: host from the request, port it came in on.
  const relative = await fetch(`${base}/relative?to=here`, { redirect: "manual" });
  assert.equal(relative.status, 301);
  assert.equal(relative.headers.get("location"), `${base}/moved/here`);
  const found = await gw.inject({ url: "/found" });
  assert.equal(found.status, 302);
  assert.equal(found.headers.location, "https://example.com/new");
});

test("a bare code answers with a status page; addHeader only with always on a 4xx", async () => {
  const gone = await gw.inject({ url: "/gone" });
  assert.equal(gone.status, 410);
  assert.equal(gone.headers["content-type"], "text/html");
  assert.match(gone.body, /<h1>410 Gone<\/h1>/);
  assert.equal(gone.headers["x-plain"], undefined);
  assert.equal(gone.headers["x-always"], "yes");
  const empty = await gw.inject({ url: "/empty" });
  assert.equal(empty.status, 204);
  assert.equal(empty.headers["content-length"], undefined, "RFC 9110 8.6: no Content-Length on a 204");
  assert.equal(empty.body, "");
});

test("variables and regex captures in return text", async () => {
  assert.equal((await gw.inject({ url: "/vars/x?q=7" })).body, "eu-west /vars/x 7 GET");
  assert.equal((await gw.inject({ url: "/user/42" })).body, "user 42");
});

test("return 444 closes the connection without an answer", async () => {
  const outcome = await new Promise<string>((resolve) => {
    const req = request(`${base}/close`, { agent: false }, () => resolve("answered"));
    req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    req.end();
  });
  assert.equal(outcome, "ECONNRESET");
  const after = await fetch(`${base}/`);
  assert.equal(await after.text(), "Hello World!");
});
