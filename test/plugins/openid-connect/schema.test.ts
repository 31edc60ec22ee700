/**
 * openidConnect: the schema's edge cases, the session codec (authenticated encryption, purposes)
 * and cookie chunking, and config errors at load.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../../src/errors.js";
import { createGateway } from "../../../src/gateway.js";
import { openidConnectSchema } from "../../../src/plugins/openid-connect/schema.js";
import { CHUNK_SIZE, parseCookies, readChunked, SessionCodec, writeChunked } from "../../../src/plugins/openid-connect/session.js";
import { startOidcProvider } from "../../fixtures/oidc-provider.js";
import { request, singleHost, startEcho } from "../../helpers/gateway.js";
import { SESSION_SECRET } from "./setup.js";

const RP = { issuer: "https://id.example.test", clientId: "portico", clientSecret: "s", redirectUri: "/callback", sessionSecret: SESSION_SECRET };

test("schema: defaults", () => {
  const conf = openidConnectSchema.parse(RP);
  assert.deepEqual(conf.scopes, ["openid"]);
  assert.equal(conf.bearerOnly, false);
  assert.equal(conf.bearerJwtAuth, true);
  assert.equal(conf.introspection, false);
  assert.equal(conf.sessionCookieName, "portico_session");
  assert.equal(conf.sessionStore, "cookie");
  assert.equal(conf.unauthAction, "auto");
  assert.equal(conf.logoutPath, "/logout");
  assert.equal(conf.setIdTokenHeader, false);
  assert.deepEqual(conf.setClaimHeaders, {});
  assert.ok(!conf.algorithms.includes("none" as never) && !conf.algorithms.some((alg) => alg.startsWith("HS")));
});

test("schema: refused configs", () => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ["no issuer", { ...RP, issuer: undefined }],
    ["issuer not a URL", { ...RP, issuer: "id.example.test" }],
    ["ftp issuer", { ...RP, issuer: "ftp://id.example.test" }],
    ["http issuer off loopback", { ...RP, issuer: "http://id.example.test" }],
    ["short session secret", { ...RP, sessionSecret: "too-short" }],
    ["no session secret for the RP role", { ...RP, sessionSecret: undefined }],
    ["both secret forms", { ...RP, sessionSecretFile: "./secret" }],
    ["both client secret forms", { ...RP, clientSecretFile: "./secret" }],
    ["no redirectUri for the RP role", { ...RP, redirectUri: undefined }],
    ["redirectUri neither path nor URL", { ...RP, redirectUri: "callback" }],
    ["protocol-relative redirectUri", { ...RP, redirectUri: "//evil.test/cb" }],
    ["no client secret for the RP role", { ...RP, clientSecret: undefined }],
    ["scopes without openid", { ...RP, scopes: ["email"] }],
    ["alg none", { ...RP, algorithms: ["none"] }],
    ["alg HS256", { ...RP, algorithms: ["HS256"] }],
    ["bad claim header name", { ...RP, setClaimHeaders: { "X User": "email" } }],
    ["bad unauthAction", { ...RP, unauthAction: "maybe" }],
    ["bad cookie name", { ...RP, sessionCookieName: "a;b" }],
    ["introspection without a client secret", { issuer: RP.issuer, clientId: "x", bearerOnly: true, introspection: true }],
    ["unknown field", { ...RP, clientSecrett: "s" }],
  ];
  for (const [name, conf] of bad) assert.equal(openidConnectSchema.safeParse(conf).success, false, name);
  for (const good of [
    { issuer: "https://id.example.test", clientId: "api", bearerOnly: true },
    { ...RP, issuer: "http://127.0.0.1:8080" },
    { ...RP, issuer: "http://localhost:8080/realms/x" },
    { ...RP, issuer: "http://id.internal", allowInsecureHttp: true },
    { ...RP, redirectUri: "https://app.example.test/callback", setIdTokenHeader: true, setAccessTokenHeader: "X-Token" },
    { ...RP, sessionSecret: undefined, sessionSecretFile: "./secret", clientSecret: undefined, clientSecretFile: "./client" },
  ]) {
    const result = openidConnectSchema.safeParse(good);
    assert.equal(result.success, true, JSON.stringify(good) + JSON.stringify(result.error?.issues));
  }
});

test("session codec: round trip; a modified, foreign-key or other-purpose value does not open; expiry", async () => {
  const codec = new SessionCodec(SESSION_SECRET);
  const sealed = await codec.seal({ sub: "alice", n: 1 }, "session", Date.now() + 60_000);
  assert.equal(sealed.split(".").length, 5, "compact JWE");
  assert.deepEqual(await codec.open(sealed, "session"), { sub: "alice", n: 1 });
  assert.equal(await codec.open(sealed, "auth"), null, "purposes do not mix");
  assert.equal(await new SessionCodec(`${SESSION_SECRET}!`).open(sealed, "session"), null);
  const parts = sealed.split(".");
  for (let i = 0; i < parts.length; i++) {
    if (i === 1) continue; // dir: the encrypted-key part is empty
    const copy = [...parts];
    const part = copy[i] as string;
    copy[i] = `${part.slice(0, 2)}${part[2] === "A" ? "B" : "A"}${part.slice(3)}`;
    assert.equal(await codec.open(copy.join("."), "session"), null, `part ${i} modified`);
  }
  assert.equal(await codec.open(await codec.seal({ sub: "a" }, "session", Date.now() - 120_000), "session"), null, "expired");
  assert.equal(await codec.open("", "session"), null);
});

test("cookie chunking: small values in one cookie, large ones in NAME.N chunks, stale ones deleted", () => {
  const attrs = { secure: true, maxAge: 60 };
  const small = writeChunked(new Map(), "s", "abc", attrs);
  assert.deepEqual(small, ["s=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"]);
  const big = "x".repeat(CHUNK_SIZE * 2 + 5);
  const chunks = writeChunked(new Map(), "s", big, attrs);
  assert.deepEqual(
    chunks.map((c) => c.slice(0, c.indexOf("="))),
    ["s.0", "s.1", "s.2"],
  );
  const jar = new Map(chunks.map((c) => [c.slice(0, c.indexOf("=")), c.slice(c.indexOf("=") + 1, c.indexOf(";"))]));
  assert.equal(readChunked(jar, "s"), big);
  // Shrinking: the old chunks are deleted; the request's other cookies are not touched.
  jar.set("other", "1");
  jar.set("s.x", "1");
  const shrunk = writeChunked(jar, "s", "abc", attrs);
  assert.equal(shrunk[0], "s=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
  assert.deepEqual(
    shrunk
      .slice(1)
      .map((c) => c.split(";")[0])
      .sort(),
    ["s.0=", "s.1=", "s.2="],
  );
  assert.ok(shrunk.slice(1).every((c) => c.includes("Max-Age=0")));
  assert.deepEqual(writeChunked(new Map([["s", "v"]]), "s", null, { secure: false, maxAge: 0 }), ["s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]);
  assert.equal(readChunked(new Map([["s.1", "b"]]), "s"), null, "no chunk 0, no value");
  assert.deepEqual(
    [...parseCookies({ cookie: "a=1; b = 2;c=3=3; a=4; junk" })],
    [
      ["a", "1"],
      ["b", "2"],
      ["c", "3=3"],
    ],
  );
});

test("secrets from files; a short file secret or a missing Redis refuses the config at load", async (t) => {
  const op = await startOidcProvider(t);
  const echo = await startEcho(t);
  const dir = await mkdtemp(path.join(tmpdir(), "portico-oidc-"));
  await writeFile(path.join(dir, "session.secret"), `${SESSION_SECRET}\n`);
  await writeFile(path.join(dir, "client.secret"), `${op.clientSecret}\n`);
  await writeFile(path.join(dir, "short.secret"), "short\n");
  const conf = (extra: Record<string, unknown>) =>
    singleHost({
      "/": {
        proxyPass: echo.origin,
        openidConnect: { issuer: op.issuer, clientId: op.clientId, redirectUri: "/callback", clientSecretFile: "client.secret", ...extra } as never,
      },
    });
  const configFile = path.join(dir, "portico.json");
  await writeFile(configFile, JSON.stringify(conf({ sessionSecretFile: "session.secret" })));
  const gw = await createGateway(configFile);
  t.after(() => gw.close());
  const [address] = await gw.listen();
  const res = await request(`${address?.url}/page`, { headers: { accept: "text/html" } });
  assert.equal(res.status, 302);

  await writeFile(configFile, JSON.stringify(conf({ sessionSecretFile: "short.secret" })));
  await assert.rejects(createGateway(configFile), (error: unknown) => error instanceof ConfigError && /at least 32 bytes/.test(error.message));
  await writeFile(configFile, JSON.stringify(conf({ sessionSecretFile: "session.secret", sessionStore: "redis" })));
  await assert.rejects(createGateway(configFile), (error: unknown) => error instanceof ConfigError && /top-level redis/.test(error.message));
});
