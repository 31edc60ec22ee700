/**
 * basicAuth: the schema (NixOS's short form too), htpasswd parsing (bcrypt, $apr1$, {SHA}, plain
 * only when allowed, errors naming file and line but never the hash), then the plugin over
 * inject() and real sockets: users, htpasswd, consumers, every way to fail, the verification
 * cache, and path tricks.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import bcrypt from "bcryptjs";
import { apr1, shaPassword } from "../../../src/consumers/secrets.js";
import { createGateway } from "../../../src/gateway.js";
import { parseHtpasswd } from "../../../src/plugins/basic-auth/htpasswd.js";
import { basicAuthSchema } from "../../../src/plugins/basic-auth/schema.js";
import { request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

test("schema: the options form, NixOS's short form, and refusals", () => {
  const short = basicAuthSchema.parse({ alice: "secret" });
  assert.deepEqual(short.users, { alice: "secret" });
  assert.equal(short.hideCredentials, true);
  assert.equal(short.realm, "portico");
  assert.equal(short.cacheTtl, "30s");
  const full = basicAuthSchema.parse({ htpasswdFile: "./users.htpasswd", realm: "Staff" });
  assert.equal(full.htpasswdFile, "./users.htpasswd");
  assert.equal(full.allowPlainText, false);
  assert.equal(full.consumers, true);
  assert.equal(basicAuthSchema.safeParse({}).success, true, "consumers only");
  assert.equal(basicAuthSchema.safeParse({ consumers: false }).success, false, "nobody could log in");
  assert.equal(basicAuthSchema.safeParse({ "a:b": "x" }).success, false, "a colon in a user name");
  assert.equal(basicAuthSchema.safeParse({ alice: "" }).success, false, "an empty password");
  assert.equal(basicAuthSchema.safeParse({ alice: 3 }).success, false);
});

test("apr1 matches openssl passwd -apr1; {SHA} matches htpasswd -s", () => {
  assert.equal(apr1("p@ssw0rd", "r31.Ab12"), "$apr1$r31.Ab12$PAY2KW7HZHy9sairtHjyQ.");
  assert.equal(apr1("a-much-longer-password-than-16-bytes", "abc"), "$apr1$abc$uTi1paWcabWaRfZiCPip6/");
  assert.equal(apr1("", "xy"), "$apr1$xy$43..WIhbfuznGvwoCyUek/");
  assert.equal(shaPassword("password"), "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
});

test("htpasswd: every format, comments and blank lines; errors name the file and line, never the hash", async () => {
  const hash = bcrypt.hashSync("bcrypt-pw", 4);
  const text = ["# users", "", `b:${hash}`, `y:${hash.replace(/^\$2a\$/, "$2y$")}`, `a:${apr1("apr-pw", "saltsalt")}`, `s:${shaPassword("sha-pw")}`].join("\n");
  const users = parseHtpasswd(text, "users.htpasswd", false);
  assert.deepEqual([...users.keys()], ["b", "y", "a", "s"]);
  assert.equal(await users.get("b")?.check("bcrypt-pw"), true);
  assert.equal(await users.get("b")?.check("bcrypt-pW"), false);
  assert.equal(await users.get("y")?.check("bcrypt-pw"), true, "$2y$ (PHP/Apache) is bcrypt too");
  assert.equal(await users.get("a")?.check("apr-pw"), true);
  assert.equal(await users.get("a")?.check("apr-pX"), false);
  assert.equal(await users.get("s")?.check("sha-pw"), true);
  assert.equal(await users.get("s")?.check("sha-pwx"), false);

  const plain = "plainuser:hunter2hunter2";
  assert.throws(
    () => parseHtpasswd(`${text}\n${plain}`, "users.htpasswd", false),
    (err: Error) => {
      assert.match(err.message, /^users\.htpasswd:7: user plainuser: unsupported password format/);
      assert.ok(!err.message.includes("hunter2"), "the stored value is never quoted");
      return true;
    },
  );
  assert.equal(await parseHtpasswd(plain, "f", true).get("plainuser")?.check("hunter2hunter2"), true, "allowPlainText");
  assert.throws(() => parseHtpasswd("u:$6$salt$abcdef", "f", true), /f:1: user u: unsupported|f:1/, "sha512-crypt: unknown");
  assert.throws(() => parseHtpasswd("u:$1$salt$abcdef", "f", false), /^Error: f:1: user u: unsupported/);
  assert.throws(() => parseHtpasswd("nocolon", "f", false), /f:1: expected "user:hash"/);
  assert.throws(() => parseHtpasswd(`u:${shaPassword("x")}\nu:${shaPassword("y")}`, "f", false), /f:2: user u appears twice/);
});

async function gatewayWith(t: TestContext, basicAuth: unknown, consumers: Record<string, unknown> = {}) {
  const up = await startEcho(t);
  const logs = captureLogs();
  const gw = await createGateway(singleHost({ "/": { proxyPass: up.origin, basicAuth: basicAuth as never } }, { consumers: consumers as never }), {
    logger: logs.logger,
  });
  t.after(() => gw.close());
  return { gw, up, logs };
}

test("NixOS short form: the user is let in, Authorization is not forwarded, the consumer is", async (t) => {
  const { gw, up } = await gatewayWith(t, { alice: "s3cret pass:with colon" }, { alice: { groups: ["staff"] } });
  const res = await gw.inject({ url: "/x", headers: { authorization: basic("alice", "s3cret pass:with colon"), "x-consumer-username": "root" } });
  assert.equal(res.status, 200);
  const seen = up.seen.at(-1);
  assert.equal(seen?.headers.authorization, undefined, "hideCredentials");
  assert.equal(seen?.headers["x-consumer-username"], "alice");
  assert.equal(seen?.headers["x-consumer-groups"], "staff", "a plugin user who is also a consumer gets its groups");
  assert.equal(
    (await gw.inject({ url: "/x", headers: { authorization: `bAsIc ${basic("alice", "s3cret pass:with colon").slice(6)}` } })).status,
    200,
    "the scheme is case-insensitive",
  );
});

test("every way to fail: 401 with a Basic challenge; precise reason in the log, never the password", async (t) => {
  const { gw, up, logs } = await gatewayWith(t, { users: { alice: "right-password" }, realm: "Staff only" });
  const cases: Array<[Record<string, string>, string]> = [
    [{}, "no Authorization header"],
    [{ authorization: "Bearer abc" }, "Authorization is not Basic"],
    [{ authorization: "Basic" }, "malformed Basic credentials (not base64)"],
    [{ authorization: "Basic !!!notbase64" }, "malformed Basic credentials (not base64)"],
    [{ authorization: `Basic ${Buffer.from("no-colon").toString("base64")}` }, "malformed Basic credentials (no user:password)"],
    [{ authorization: basic("alice", "wrong-password") }, "wrong password"],
    [{ authorization: basic("alice", "right-passwor") }, "wrong password"],
    [{ authorization: basic("alice", "right-password ") }, "wrong password"],
    [{ authorization: basic("mallory", "right-password") }, "unknown user"],
  ];
  for (const [headers, reason] of cases) {
    const res = await gw.inject({ url: "/", headers });
    assert.equal(res.status, 401, reason);
    assert.equal(res.headers["www-authenticate"], 'Basic realm="Staff only", charset="UTF-8"');
    const body = res.json<{ message: string; requestId: string }>();
    assert.deepEqual(Object.keys(body).sort(), ["message", "requestId"]);
    assert.equal(logs.lines.findLast((line) => line.requestId === body.requestId)?.reason, reason);
  }
  assert.equal(up.seen.length, 0);
  assert.ok(!JSON.stringify(logs.lines).includes("right-passw"), "passwords are never logged");
  assert.ok(!JSON.stringify(logs.lines).includes("wrong-password"));
});

test("htpasswd file (relative to the config file) and consumers' credentials, all hash formats", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-basic-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, "users.htpasswd"),
    [`bee:${bcrypt.hashSync("bee-pw", 4)}`, `apr:${apr1("apr-pw", "Zx9.ab/c")}`, `sha:${shaPassword("sha-pw")}`, ""].join("\n"),
  );
  await writeFile(path.join(dir, "dora.pw"), `${bcrypt.hashSync("dora-pw", 4)}\n`);
  const up = await startEcho(t);
  const configFile = path.join(dir, "portico.json");
  await writeFile(
    configFile,
    JSON.stringify({
      listen: "127.0.0.1:0",
      consumers: {
        carl: { groups: ["ops"], basicAuth: { password: "carl-plain-pw" } },
        dora: { basicAuth: { username: "dora@example.org", passwordFile: "./dora.pw" } },
        apr: { groups: ["apr-group"] },
      },
      virtualHosts: { localhost: { default: true, locations: { "/": { proxyPass: up.origin, basicAuth: { htpasswdFile: "./users.htpasswd" } } } } },
    }),
  );
  const { url } = await startGateway(t, configFile as never);
  const as = async (user: string, password: string) => {
    const res = await request(`${url}/who`, { headers: { Authorization: basic(user, password) } });
    return res.status === 200 ? String(up.seen.at(-1)?.headers["x-consumer-username"]) : res.status;
  };
  assert.equal(await as("bee", "bee-pw"), "bee");
  assert.equal(await as("bee", "bee-pX"), 401);
  assert.equal(await as("apr", "apr-pw"), "apr");
  assert.equal(up.seen.at(-1)?.headers["x-consumer-groups"], "apr-group");
  assert.equal(await as("apr", "apr-px"), 401);
  assert.equal(await as("sha", "sha-pw"), "sha");
  assert.equal(await as("carl", "carl-plain-pw"), "carl");
  assert.equal(await as("carl", "carl-plain-px"), 401);
  assert.equal(await as("dora@example.org", "dora-pw"), "dora", "a consumer's username and a hashed passwordFile");
  assert.equal(await as("dora", "dora-pw"), 401, "dora's user name is the one configured");
});

test("a bad htpasswd line fails the load with file and line; a consumer password of an unknown hash format too", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-basic-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "bad.htpasswd");
  await writeFile(
    file,
    `ok:${shaPassword("x")}\nbad:$6$rounds=5000$usesomesillystri$D4IrlXatmP7rx3P3InaxBeoomnAihCKRVQP22JZ6EY47Wc6BkroIuUUBOov1i.S5KPgErtP/EN5mcO.ChWQW21\n`,
  );
  await assert.rejects(
    createGateway(singleHost({ "/": { return: "200 ok", basicAuth: { htpasswdFile: file } } }), { logger: captureLogs().logger }),
    (err: Error) => {
      assert.match(err.message, /bad\.htpasswd:2: user bad: unsupported password format/);
      assert.ok(!err.message.includes("usesomesillystri"));
      return true;
    },
  );
  await assert.rejects(
    createGateway(singleHost({ "/": { return: "200 ok", basicAuth: {} } }, { consumers: { x: { basicAuth: { password: "$5$abc$def" } } } }), {
      logger: captureLogs().logger,
    }),
    /consumers\.x\.basicAuth: the password looks like a hash of an unsupported format/,
  );
});

test("a successful bcrypt check is cached (keyed by a digest of user:password); a wrong password is not", async (t) => {
  const { gw } = await gatewayWith(t, { users: { slow: bcrypt.hashSync("slow-pw", 10) } });
  const ok = { authorization: basic("slow", "slow-pw") };
  assert.equal((await gw.inject({ url: "/", headers: ok })).status, 200);
  // Once cached, many requests need no bcrypt: they all succeed, and a wrong password still fails.
  const results = await Promise.all(Array.from({ length: 20 }, () => gw.inject({ url: "/", headers: ok })));
  assert.ok(results.every((res) => res.status === 200));
  assert.equal((await gw.inject({ url: "/", headers: { authorization: basic("slow", "slow-pX") } })).status, 401);
});

test("path tricks cannot reach a location protected by basicAuth", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/admin": { proxyPass: up.origin, basicAuth: { root: "toor-toor" } }, "/": { proxyPass: up.origin } }));
  for (const trick of ["/%61dmin", "/public/../admin", "//admin", "/admin/./x", "/public/%2e%2e/admin", "/./admin"]) {
    const res = await request(url, { path: trick });
    assert.ok(res.status === 401 || res.status === 400, `${trick}: ${res.status}`);
  }
  assert.equal(up.seen.length, 0);
  assert.equal((await request(url, { path: "//admin", headers: { Authorization: basic("root", "toor-toor") } })).status, 200);
});
