/**
 * The consumer registry, the shared auth helpers (identity headers, cookies, anonymous), secret
 * comparison and password formats, and the engine's upstream-query mechanism that hideCredentials
 * relies on.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { exportSPKI, generateKeyPair } from "jose";
import {
  applyConsumer,
  authenticatedBefore,
  ConsumerRegistry,
  compileConsumerHeaders,
  consumerHeadersSchema,
  consumerRegistry,
  consumersSchema,
  isAnonymous,
  passwordFormat,
  readCookie,
  removeCookie,
  secretEquals,
  stripConsumerHeaders,
} from "../../src/consumers/index.js";
import { createGateway } from "../../src/gateway.js";
import type { Context, RequestPhaseContext } from "../../src/lifecycle/context.js";
import { singleHost, startEcho } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/logs.js";

const noFiles = async (file: string): Promise<Buffer> => {
  throw Object.assign(new Error(`no ${file}`), { code: "ENOENT" });
};

test("registry: consumers with groups and customId; keys by digest; basic users; jwt credentials with derived algorithms", async () => {
  const ec = await generateKeyPair("ES384", { extractable: true });
  const ed = await generateKeyPair("EdDSA", { extractable: true });
  const config = consumersSchema.parse({
    alice: { groups: ["a"], customId: "c-1", keyAuth: [{ key: "alice-key-1" }, { key: "alice-key-2" }], basicAuth: { password: "pw" } },
    bob: {
      basicAuth: { username: "bob@x", password: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" },
      jwtAuth: [
        { key: "bob-hs", secret: "b".repeat(32) },
        { key: "bob-ec", publicKey: await exportSPKI(ec.publicKey) },
        { key: "bob-ed", publicKey: await exportSPKI(ed.publicKey) },
      ],
    },
  });
  const registry = await ConsumerRegistry.build(config, noFiles);
  assert.deepEqual(registry.get("alice"), { name: "alice", groups: ["a"], customId: "c-1" });
  assert.equal(registry.get("nobody"), undefined);
  assert.ok(Object.isFrozen(registry.get("alice")));
  assert.equal(registry.findKey("alice-key-2")?.id, "alice/keyAuth/1");
  assert.equal(registry.findKey("alice-key-3"), undefined);
  assert.equal(registry.basicUser("alice")?.consumer.name, "alice");
  assert.equal(await registry.basicUser("alice")?.check("pw"), true);
  assert.equal(await registry.basicUser("alice")?.check("pW"), false);
  assert.equal(await registry.basicUser("bob@x")?.check("password"), true, "{SHA} hash");
  assert.equal(registry.basicUser("bob"), undefined);
  assert.equal(registry.jwtCredential("bob-hs")?.algorithm, "HS256");
  assert.equal(registry.jwtCredential("bob-ec")?.algorithm, "ES384");
  assert.equal(registry.jwtCredential("bob-ed")?.algorithm, "EdDSA");
  assert.equal(registry.hasJwtCredentials, true);
});

test("registry: config errors name the consumer and field, never a secret", async () => {
  const build = (value: unknown, files = noFiles) => ConsumerRegistry.build(consumersSchema.parse(value), files);
  await assert.rejects(build({ a: { keyAuth: [{ keyFile: "a.key" }] } }), /cannot read a\.key: ENOENT/);
  await assert.rejects(
    build({ a: { keyAuth: [{ keyFile: "a.key" }] } }, async () => Buffer.from("short\n")),
    /consumers\.a\.keyAuth\.0: an API key needs at least 8/,
  );
  await assert.rejects(build({ a: { basicAuth: { password: "x" } }, b: { basicAuth: { username: "a", password: "y" } } }), /user name a is taken/);
  await assert.rejects(
    build({ a: { jwtAuth: [{ key: "k", secret: "s".repeat(32) }] }, b: { jwtAuth: [{ key: "k", secret: "t".repeat(32) }] } }),
    /key k is taken/,
  );
  await assert.rejects(build({ a: { jwtAuth: [{ key: "k", secret: "s".repeat(32), algorithm: "RS256" }] } }), /a secret goes with HS256/);
  const rsa = await generateKeyPair("RS256", { extractable: true });
  await assert.rejects(
    build({ a: { jwtAuth: [{ key: "k", publicKey: await exportSPKI(rsa.publicKey), algorithm: "HS256" }] } }),
    /a public key cannot verify HS256/,
  );
  await assert.rejects(
    build({ a: { jwtAuth: [{ key: "k", publicKey: "-----BEGIN PUBLIC KEY-----\nbm90YWtleQ==\n-----END PUBLIC KEY-----" }] } }),
    (err: Error) => {
      assert.match(err.message, /consumers\.a\.jwtAuth\.0: not a PEM public key/);
      assert.ok(!err.message.includes("bm90YWtleQ"));
      return true;
    },
  );
  assert.equal(consumersSchema.safeParse({ a: { jwtAuth: [{ key: "k", secret: "short" }] } }).success, false);
  assert.equal(consumersSchema.safeParse({ a: { jwtAuth: [{ key: "k" }] } }).success, false, "no key material");
  assert.equal(consumersSchema.safeParse({ a: { basicAuth: { username: "a:b", password: "x" } } }).success, false);
});

test("registry: one per config object, files read through env.readFile", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-consumers-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, "k"), "  file-key-123  \n");
  const read: string[] = [];
  const env = {
    config: { consumers: { c: { keyAuth: [{ keyFile: "k" }] } } },
    readFile: async (file: string) => {
      read.push(file);
      const { readFile } = await import("node:fs/promises");
      return readFile(path.join(dir, file));
    },
  };
  const first = consumerRegistry(env);
  assert.equal(consumerRegistry(env), first, "shared by the plugins of one load");
  assert.equal((await first).findKey("file-key-123")?.consumer.name, "c", "trimmed");
  assert.deepEqual(read, ["k"]);
  assert.notEqual(consumerRegistry({ ...env, config: { ...env.config } }), first, "a new load, a new registry");
  assert.equal((await consumerRegistry({ config: {}, readFile: noFiles })).size, 0);
});

function fakeContext(headers: Record<string, string | string[] | undefined>): RequestPhaseContext {
  return { consumer: null, jwt: null, request: { headers } } as unknown as RequestPhaseContext;
}

/** The headers that would go upstream: the proxy skips undefined values. */
function sent(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<string, string | string[]>;
}

test("stripConsumerHeaders and applyConsumer: forged identity headers go, the consumer's are set; anonymous is marked", () => {
  const names = compileConsumerHeaders(consumerHeadersSchema.parse(undefined));
  const headers: Record<string, string | string[] | undefined> = {
    "x-consumer-username": "root",
    "x-consumer-id": "1",
    "x-consumer-whatever": "x",
    "x-credential-identifier": "c",
    "x-anonymous-consumer": "true",
    "x-consumerish": "kept",
    accept: "*/*",
  };
  stripConsumerHeaders(headers, names);
  // Removed headers are set to undefined (what the proxy skips), not deleted: see clearHeader.
  assert.deepEqual(sent(headers), { "x-consumerish": "kept", accept: "*/*" });

  const custom = compileConsumerHeaders(consumerHeadersSchema.parse({ username: "X-User", groups: "X-Roles" }));
  const other: Record<string, string> = { "x-user": "root", "x-roles": "admin", "x-consumer-custom-id": "9" };
  stripConsumerHeaders(other, custom);
  assert.deepEqual(sent(other), {}, "custom names are stripped too");

  const ctx = fakeContext({ "x-consumer-groups": "forged" });
  const set = ctx.request.headers;
  applyConsumer(ctx, { name: "alice", groups: ["a", "b"], customId: "7" }, { headers: names, credential: "alice/keyAuth/0" });
  assert.equal(ctx.consumer?.name, "alice");
  assert.equal(set["x-consumer-username"], "alice");
  assert.equal(set["x-consumer-groups"], "a, b");
  assert.equal(set["x-consumer-custom-id"], "7");
  assert.equal(set["x-credential-identifier"], "alice/keyAuth/0");
  assert.equal(isAnonymous(ctx), false);
  assert.equal(authenticatedBefore(ctx), true);

  const anon = fakeContext({});
  applyConsumer(anon, { name: "guest", groups: [] }, { headers: names, anonymous: true });
  assert.equal(anon.request.headers["x-anonymous-consumer"], "true");
  assert.equal(anon.request.headers["x-consumer-groups"], undefined);
  assert.equal(isAnonymous(anon), true);
  assert.equal(authenticatedBefore(anon), false, "an anonymous consumer does not count as authenticated");

  const silent = fakeContext({});
  applyConsumer(silent, { name: "x", groups: ["g"] }, { headers: false });
  assert.deepEqual(silent.request.headers, {});
  assert.equal(silent.consumer?.name, "x");
});

test("cookies: read one (quoted, encoded), remove one and keep the others", () => {
  const headers: Record<string, string> = { cookie: 'a=1; token="x%20y"; b=2; token=second' };
  assert.equal(readCookie(headers, "token"), "x y");
  assert.equal(readCookie(headers, "b"), "2");
  assert.equal(readCookie(headers, "tok"), undefined);
  assert.equal(readCookie({}, "a"), undefined);
  removeCookie(headers, "token");
  assert.equal(headers.cookie, "a=1; b=2", "every occurrence goes");
  removeCookie(headers, "a");
  removeCookie(headers, "b");
  assert.equal(headers.cookie, undefined);
});

test("secrets: constant-time equality of any lengths; password formats by prefix", () => {
  assert.equal(secretEquals("abc", "abc"), true);
  assert.equal(secretEquals("abc", "abcd"), false, "different lengths do not throw");
  assert.equal(secretEquals("", ""), true);
  assert.equal(passwordFormat("$2y$10$abcdefghijklmnopqrstuu5Gg4p1LhJ9aTjJ2pTw2yY3GQtJqQ7XW"), "bcrypt");
  assert.equal(passwordFormat("$apr1$abc$uTi1paWcabWaRfZiCPip6/"), "apr1");
  assert.equal(passwordFormat("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="), "sha");
  assert.equal(passwordFormat("$apr1$abc$short"), "plain", "a malformed hash is no hash");
  assert.equal(passwordFormat("hunter2"), "plain");
});

test("a hook that assigns ctx.request.query changes the upstream query; one that only reads it changes nothing", async (t) => {
  const up = await startEcho(t);
  const gw = await createGateway(
    singleHost({
      "/set": {
        proxyPass: up.origin,
        rewrite: (ctx: Context) => {
          const query = ctx.request.query;
          query.delete("drop");
          query.set("added", "a b");
          ctx.request.query = query;
        },
      },
      "/read/": {
        proxyPass: `${up.origin}/base/`,
        rewrite: (ctx: Context) => {
          ctx.request.query.delete("drop");
          ctx.request.headers["x-q"] = ctx.request.query.toString();
        },
      },
      "/bad": {
        proxyPass: up.origin,
        rewrite: (ctx: Context) => {
          (ctx.request as unknown as { query: unknown }).query = "a=2";
        },
      },
      "/empty": {
        proxyPass: up.origin,
        rewrite: (ctx: Context) => {
          ctx.request.query = new URLSearchParams();
        },
      },
    }),
    { logger: captureLogs().logger },
  );
  t.after(() => gw.close());
  await gw.inject({ url: "/set/x?keep=%7E1&drop=secret" });
  assert.equal(up.seen.at(-1)?.url, "/set/x?keep=%7E1&added=a+b");
  await gw.inject({ url: "/read/y?keep=%7E1&drop=secret" });
  assert.equal(up.seen.at(-1)?.url, "/base/y?keep=%7E1&drop=secret", "byte for byte as received");
  await gw.inject({ url: "/empty?a=1" });
  assert.equal(up.seen.at(-1)?.url, "/empty");
  assert.equal((await gw.inject({ url: "/bad?a=1" })).status, 500, "a string is refused: the hook fails");
});
