/**
 * Reload: a good config is swapped in while requests flow, and none is lost; a bad one is
 * refused with its errors and changes nothing.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Agent, request } from "undici";
import { ConfigError, createGateway } from "../../src/index.js";
import { startEchoUpstream } from "../fixtures/echo-upstream.js";
import { captureLogs } from "../helpers/logs.js";
import { waitFor } from "../helpers/wait.js";

const dir = await mkdtemp(path.join(tmpdir(), "portico-reload-"));
after(() => rm(dir, { recursive: true, force: true }));

function config(version: string, upstreamOrigin: string): string {
  return `listen: "127.0.0.1:0"
virtualHosts:
  localhost:
    default: true
    locations:
      /:
        return: "200 '${version}'"
      /api/:
        proxyPass: ${upstreamOrigin}/anything/
        addHeader:
          X-Version: ${version}
`;
}

test("reloads under load lose no request, and every request sees one whole config", async (t) => {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const file = path.join(dir, "portico.yaml");
  await writeFile(file, config("v1", upstream.origin));
  const { logger } = captureLogs();
  const gw = await createGateway(file, { logger });
  const [address] = await gw.listen();
  assert.ok(address);
  t.after(() => gw.close());

  const agent = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
  t.after(() => agent.close());
  const versions = new Set<string>();
  let ok = 0;
  const failures: string[] = [];
  let flowing = true;

  // Eight keep-alive clients, each a bounded loop, alternating a return and a proxied location.
  let finished = 0;
  const client = async (id: number) => {
    for (let i = 0; i < 400 && flowing; i++) {
      const target = i % 2 === 0 ? "/" : `/api/c${id}/${i}`;
      try {
        const res = await request(`${address.url}${target}`, { dispatcher: agent });
        const body = await res.body.text();
        if (res.statusCode !== 200) failures.push(`${target}: ${res.statusCode}`);
        else {
          ok++;
          versions.add(i % 2 === 0 ? body : String(res.headers["x-version"]));
        }
      } catch (error) {
        failures.push(`${target}: ${(error as Error).message}`);
      }
    }
    finished++;
  };
  const clients = Array.from({ length: 8 }, (_, id) => client(id));

  let reloads = 0;
  for (let round = 0; round < 20; round++) {
    const version = round % 2 === 0 ? "v2" : "v1";
    await writeFile(file, config(version, upstream.origin));
    await gw.reload();
    reloads++;
    // Requests on this config before the next reload: eight more answers, not a sleep.
    const answered = ok + failures.length;
    await waitFor("requests between two reloads", () => (ok + failures.length >= answered + 8 || finished === 8 ? true : undefined));
  }
  flowing = false;
  await Promise.all(clients);

  assert.equal(reloads, 20);
  assert.deepEqual(failures, []);
  assert.ok(ok > 100, `requests flowed during the reloads (${ok})`);
  assert.deepEqual([...versions].sort(), ["v1", "v2"], "both configs answered");
  assert.equal(gw.addresses()[0]?.port, address.port, "the listener stayed the same");
});

test("a bad config is refused with its errors; the running one keeps serving", async (t) => {
  const file = path.join(dir, "bad.yaml");
  await writeFile(file, config("good", "http://127.0.0.1:9"));
  const { logger } = captureLogs();
  const gw = await createGateway(file, { logger });
  const [address] = await gw.listen();
  assert.ok(address);
  t.after(() => gw.close());

  const broken = [
    [
      "a misspelt key",
      'listen: "127.0.0.1:0"\nvirtualHosts:\n  localhost:\n    locations:\n      /:\n        retrun: "200 \'bad\'"\n',
      /retrun.*did you mean "return"/,
    ],
    ["a YAML error", "virtualHosts:\n  localhost: [\n", /portico|bad\.yaml:\d+:\d+/],
    ["a missing hook module", "virtualHosts:\n  localhost:\n    locations:\n      /:\n        content: ./nope.js\n", /hook module not found/],
    [
      "a listener that cannot open",
      'listen: "203.0.113.1:1"\nvirtualHosts:\n  localhost:\n    locations:\n      /:\n        return: "200 \'bad\'"\n',
      /EADDRNOTAVAIL|listen/,
    ],
  ] as const;
  for (const [what, text, message] of broken) {
    await writeFile(file, text);
    await assert.rejects(gw.reload(), (error: Error) => {
      assert.match(error.message, message, what);
      if (what !== "a listener that cannot open") assert.ok(error instanceof ConfigError, what);
      return true;
    });
    const res = await request(`${address.url}/`);
    assert.equal(await res.body.text(), "good", `still the old config after ${what}`);
  }
  assert.equal(gw.addresses().length, 1, "the failed listener was not added");
});

test("a request held in a hook across a reload that drops its upstream still reaches it", async (t) => {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived: () => void = () => undefined;
  const inHook = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const { logger } = captureLogs();
  const gw = await createGateway(
    {
      listen: "127.0.0.1:0",
      shutdownTimeout: "2s",
      virtualHosts: {
        localhost: {
          locations: {
            "/old/": {
              proxyPass: `${upstream.origin}/anything/`,
              access: async () => {
                arrived();
                await held;
              },
            },
          },
        },
      },
    },
    { logger },
  );
  const [address] = await gw.listen();
  assert.ok(address);
  t.after(() => gw.close());

  const pending = request(`${address.url}/old/x`);
  await inHook;
  // The new config no longer knows this upstream.
  await gw.reload({ listen: "127.0.0.1:0", virtualHosts: { localhost: { locations: { "/": { return: "200 'new'" } } } } });
  release();
  const res = await pending;
  assert.equal(res.statusCode, 200, "the held request was not cut by the reload");
  assert.equal((await res.body.json()) instanceof Object, true);
  assert.equal(upstream.seen.at(-1)?.url, "/anything/x");
  assert.equal(await (await request(`${address.url}/old/x`)).body.text(), "new");
});
