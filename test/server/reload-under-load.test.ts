/**
 * Zero-downtime reload under load, on a real `portico start` with `workers: 2` and `watch: true`:
 * three clients, each with one keep-alive connection, run a bounded request loop (a `return`
 * location and a proxied one) while the config is reloaded 24 times (file changes seen by watch,
 * and SIGHUP): not one request may fail. Then a worker is SIGKILLed mid-load: the primary starts
 * another; the requests that fail are only those on the killed worker's connections: each client
 * has one request in flight at a time, so at most CLIENTS requests were on the killed worker (cut:
 * ECONNRESET), plus, rarely, one written to an idle connection of it before the client saw it
 * close; every other request succeeds.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { startEchoUpstream } from "../fixtures/echo-upstream.js";
import { get, startPortico } from "../helpers/portico-process.js";
import { HANG_MS } from "../helpers/wait.js";

const CLIENTS = 3;
const MAX_REQUESTS_PER_CLIENT = 20_000;
const RELOADS = 24;

interface Load {
  ok: number;
  failures: Array<{ client: number; error: string }>;
  versions: Set<string>;
  stop(): Promise<void>;
}

/** CLIENTS loops of requests, one keep-alive connection each, until stop() or MAX_REQUESTS_PER_CLIENT. */
function runLoad(base: string): Load {
  let stopped = false;
  const load: Load = { ok: 0, failures: [], versions: new Set(), stop: async () => {} };
  const loops = Array.from({ length: CLIENTS }, async (_, client) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && !stopped; i++) {
        const proxied = i % 2 === 1;
        try {
          const answer = await get(proxied ? `${base}/proxy/anything/${client}/${i}` : `${base}/`, { agent, timeout: HANG_MS });
          if (answer.status !== 200) load.failures.push({ client, error: `status ${answer.status}: ${answer.body.slice(0, 200)}` });
          else {
            load.ok++;
            if (!proxied) load.versions.add(answer.body);
          }
        } catch (error) {
          load.failures.push({ client, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
        }
      }
    } finally {
      agent.destroy();
    }
  });
  load.stop = async () => {
    stopped = true;
    await Promise.all(loops);
  };
  return load;
}

test("reload under load: 24 reloads (watch and SIGHUP) with 3 keep-alive clients, zero failed requests; a worker killed mid-load costs at most one request per client", async (t) => {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const dir = mkdtempSync(path.join(tmpdir(), "portico-load-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "portico.yaml");
  const write = (version: number) =>
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
workers: 2
watch: true
upstreams:
  echo:
    servers: ["127.0.0.1:${upstream.port}"]
    keepalive: 8
virtualHosts:
  localhost:
    default: true
    locations:
      /proxy/:
        proxyPass: http://echo/
      /:
        return: "200 'v${version}'"
`,
    );
  write(0);
  const gw = await startPortico(file);
  t.after(() => gw.child.kill("SIGKILL"));
  // The watcher is armed after the listeners open: an edit before this line could go unseen.
  await gw.waitLog("the watcher armed", (line) => /^watching \d+ files for changes$/.test(line.msg));

  // 1. Reloads under load: not one failure.
  const load = runLoad(gw.base);
  let reloads = 0;
  for (let i = 1; i <= RELOADS; i++) {
    const from = gw.logs.length;
    if (i % 2 === 1) write(i);
    else gw.child.kill("SIGHUP");
    const line = await gw.waitLog(`reload ${i}`, (l) => l.msg === "configuration reloaded" || l.msg.startsWith("reload refused"), from);
    assert.equal(line.msg, "configuration reloaded", JSON.stringify(line));
    assert.equal(line.source, i % 2 === 1 ? "watch" : "signal");
    reloads++;
  }
  const servedDuringReloads = load.ok;
  await load.stop();
  t.diagnostic(`${reloads} reloads, ${load.ok} requests answered, ${load.failures.length} failed; versions seen: ${[...load.versions].join(" ")}`);
  assert.deepEqual(load.failures, [], "no request fails across reloads");
  assert.ok(servedDuringReloads > RELOADS, `requests ran during the reloads (${servedDuringReloads})`);
  assert.ok(load.versions.size >= 3, `the clients saw the configs change (${[...load.versions].join(" ")})`);
  assert.equal((await get(`${gw.base}/`)).body, `v${RELOADS - 1}`);

  // 2. A worker SIGKILLed mid-load.
  const workers = gw.logs.filter((line) => /^worker \d listening$/.test(line.msg));
  const victim = workers[0]?.pid as number;
  assert.ok(victim);
  const second = runLoad(gw.base);
  // Let the clients get going, on both workers, before the kill.
  while (second.ok < 200) await new Promise((resolve) => setTimeout(resolve, 20));
  const from = gw.logs.length;
  process.kill(victim, "SIGKILL");
  await gw.waitLog("the exit report", (line) => line.code === "PTC_ERR_WORKER_EXITED" && line.pid === victim, from);
  await gw.waitLog("the new worker", (line) => /^worker \d listening$/.test(line.msg), from);
  const okAtRestart = second.ok;
  while (second.ok < okAtRestart + 200) await new Promise((resolve) => setTimeout(resolve, 20));
  await second.stop();
  t.diagnostic(`worker ${victim} killed: ${second.ok} requests answered, ${second.failures.length} failed: ${JSON.stringify(second.failures)}`);
  // Bounded by the connections the killed worker held: one per client at most.
  assert.ok(second.failures.length <= CLIENTS, JSON.stringify(second.failures));
  assert.deepEqual(await gw.stop(), { code: 0, signal: null });
});
