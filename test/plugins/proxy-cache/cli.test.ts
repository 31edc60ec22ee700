/**
 * `portico cache purge`: Redis zones purged straight in Redis; a memory zone without admin is
 * explained, not silently skipped; bad arguments refused.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { runCli } from "../../helpers/cli.js";
import { startRedis } from "../../helpers/redis.js";

test("portico cache purge: Redis zone by prefix and key; memory zone without admin; bad arguments", async (t) => {
  const redis = await startRedis(t);
  const dir = await mkdtemp(path.join(tmpdir(), "portico-cache-"));
  const file = path.join(dir, "portico.yaml");
  await writeFile(
    file,
    `listen: 127.0.0.1:0
redis: { url: "${redis.url}" }
virtualHosts:
  localhost:
    default: true
    locations:
      /:
        proxyPass: http://127.0.0.1:9/
        proxyCache: { store: redis, zone: api }
`,
  );
  const client = new Redis(redis.url);
  t.after(() => client.disconnect());
  for (const key of ["a.test/x GET", "a.test/x GET vary:accept=;", "a.test/y GET", "b.test/x GET"]) await client.set(`portico:cache:api:${key}`, "R");
  const byKey = await runCli(["cache", "purge", "-c", file, "--key", "a.test/x"]);
  assert.equal(byKey.code, 0, byKey.stderr);
  assert.match(byKey.stdout, /zone api \(redis\): 2 keys purged/);
  const byPrefix = await runCli(["cache", "purge", "-c", file, "--prefix", "a.test/"]);
  assert.match(byPrefix.stdout, /1 key purged/);
  assert.deepEqual(await client.keys("portico:cache:*"), ["portico:cache:api:b.test/x GET"]);

  const bad = await runCli(["cache", "purge", "-c", file, "--key", "a", "--prefix", "b"]);
  assert.equal(bad.code, 2);

  const memory = path.join(dir, "memory.yaml");
  await writeFile(
    memory,
    "listen: 127.0.0.1:0\nvirtualHosts:\n  localhost:\n    locations:\n      /:\n        proxyPass: http://127.0.0.1:9/\n        proxyCache: {}\n",
  );
  const inside = await runCli(["cache", "purge", "-c", memory, "--prefix", "x"]);
  assert.equal(inside.code, 1);
  assert.match(inside.stderr, /memory cache: it lives inside the running process/);
});
