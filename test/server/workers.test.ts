/**
 * `workers: N`: a primary and N worker processes sharing the listener (node:cluster), as a real
 * `portico start`: requests are served by different pids, one metrics scrape is the sum over the
 * workers, a worker killed with SIGKILL is replaced while the others keep serving, SIGHUP reloads
 * every worker (a broken file is refused by the primary), a crash loop is given up, SIGTERM stops all.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { checkConfig } from "../../src/gateway.js";
import type { StatsSnapshot } from "../../src/observability/stats.js";
import { mergeStats, restartDelay, workerCount } from "../../src/server/workers.js";
import { runCli } from "../helpers/cli.js";
import { get, getUntil, startPortico } from "../helpers/portico-process.js";

const PID_HOOK = "export default () => ({ pid: process.pid });\n";

function setup(t: { after(fn: () => void): void }, text: string, extra = ""): { dir: string; file: string; write(text: string, extra?: string): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "portico-workers-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, "pid.js"), PID_HOOK);
  const file = path.join(dir, "portico.yaml");
  const write = (answer: string, more = extra) =>
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
workers: 2
admin:
  listen: 127.0.0.1:0
${more}virtualHosts:
  localhost:
    default: true
    locations:
      /pid:
        content: ./pid.js
      /:
        return: "200 '${answer}'"
`,
    );
  write(text);
  return { dir, file, write };
}

/** Fresh connections until two different worker pids answered (round-robin gives them at once). */
async function twoPids(base: string): Promise<{ pids: Set<number>; requests: number }> {
  const pids = new Set<number>();
  let requests = 0;
  while (pids.size < 2 && requests < 100) {
    const answer = await get(`${base}/pid`);
    requests++;
    assert.equal(answer.status, 200);
    pids.add((JSON.parse(answer.body) as { pid: number }).pid);
  }
  return { pids, requests };
}

test('schema: workers is "auto" or a positive integer; watch a boolean', async () => {
  const base = { listen: "127.0.0.1:0", virtualHosts: { localhost: { locations: { "/": { return: "200 ok" } } } } };
  for (const workers of ["auto", 1, 4]) await checkConfig({ ...base, workers } as never);
  for (const workers of [0, -1, 1.5, "2", "all", null]) {
    await assert.rejects(checkConfig({ ...base, workers } as never), /workers/, String(workers));
  }
  await checkConfig({ ...base, watch: true });
  await assert.rejects(checkConfig({ ...base, watch: "yes" } as never), /watch/);
  assert.equal(workerCount(undefined), 1);
  assert.equal(workerCount(3), 3);
  assert.ok(workerCount("auto") >= 1);
});

test("restart backoff and merged stats", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 10].map(restartDelay), [0, 250, 500, 1000, 2000, 10_000]);
  const one: StatsSnapshot = {
    total: 3,
    totalByClass: { "2xx": 2, "5xx": 1 },
    rps: 0.3,
    series: [1, 2],
    statusMix: { "2xx": 2, "5xx": 1 },
    latency: { p50: 1, p90: 2, p99: 3 },
    uptimeSeconds: 10,
  };
  const two: StatsSnapshot = { ...one, total: 4, totalByClass: { "2xx": 4 }, series: [0, 4], latency: { p50: 2, p90: null, p99: 1 }, uptimeSeconds: 12 };
  assert.deepEqual(mergeStats([one, two]), {
    total: 7,
    totalByClass: { "2xx": 6, "5xx": 1 },
    rps: 0.6,
    series: [1, 6],
    statusMix: { "2xx": 4, "5xx": 2 },
    latency: { p50: 2, p90: 2, p99: 3 },
    uptimeSeconds: 12,
  });
});

test("workers: 2 — two pids answer, one scrape sums both, a killed worker is replaced, SIGHUP reloads all, SIGTERM stops all", async (t) => {
  const { file, write } = setup(t, "one");
  const gw = await startPortico(file);
  t.after(() => gw.child.kill("SIGKILL"));
  const adminLine = await gw.waitLog("the admin line", (line) => line.msg.startsWith("admin listener on "));
  const admin = adminLine.admin as string;
  const workers = gw.logs.filter((line) => /^worker \d listening$/.test(line.msg));
  assert.equal(workers.length, 2);
  assert.equal(new Set(workers.map((line) => line.pid)).size, 2);

  // Two workers answer.
  const { pids, requests } = await twoPids(gw.base);
  assert.equal(pids.size, 2, "two worker pids served requests");
  assert.deepEqual(new Set(workers.map((line) => line.pid)), pids);

  // One scrape, the sum over the workers: every request made so far is counted once.
  const metrics = await get(`${admin}/metrics`);
  assert.equal(metrics.status, 200);
  const counted = /portico_http_requests_total\{virtual_host="localhost",location="\/pid",method="GET",status="2xx"\} (\d+)/.exec(metrics.body);
  assert.ok(counted, metrics.body.slice(0, 2000));
  assert.equal(Number(counted[1]), requests, "the scrape counts the requests of both workers");
  assert.equal((metrics.body.match(/^# TYPE portico_http_requests_total /gm) ?? []).length, 1, "one family, not one per worker");
  // The admin API's stats are summed as well.
  const stats = JSON.parse((await get(`${admin}/api/stats`)).body) as { total: number };
  assert.ok(stats.total >= requests, JSON.stringify(stats));

  // SIGKILL one worker: the primary logs it and starts another; the service keeps answering.
  const victim = [...pids][0] as number;
  const before = gw.logs.length;
  process.kill(victim, "SIGKILL");
  const exited = await gw.waitLog("the exit report", (line) => line.code === "PTC_ERR_WORKER_EXITED", before);
  assert.equal(exited.pid, victim);
  assert.equal(exited.signal, "SIGKILL");
  const answer = await get(`${gw.base}/`);
  assert.deepEqual([answer.status, answer.body], [200, "one"], "the other worker serves meanwhile");
  const replaced = await gw.waitLog("the new worker", (line) => /^worker \d listening$/.test(line.msg), before);
  assert.notEqual(replaced.pid, victim);
  const after = await twoPids(gw.base);
  assert.equal(after.pids.size, 2);
  assert.ok(after.pids.has(replaced.pid as number), "the new worker serves");
  assert.ok(!after.pids.has(victim));

  // SIGHUP: validated by the primary, every worker reloads; connections to both see the new answer.
  write("two");
  const hup = gw.logs.length;
  gw.child.kill("SIGHUP");
  const reloaded = await gw.waitLog("the reload", (line) => line.msg === "configuration reloaded", hup);
  assert.equal(reloaded.source, "signal");
  for (let i = 0; i < 6; i++) assert.equal((await get(`${gw.base}/`)).body, "two");

  // A broken file: refused by the primary with its errors, no worker sees it, "two" keeps serving.
  writeFileSync(file, readFileSync(file, "utf8").replace("return:", "retrun:"));
  const broken = gw.logs.length;
  gw.child.kill("SIGHUP");
  const refused = await gw.waitLog("the refusal", (line) => line.level === 50, broken);
  assert.match(refused.msg, /^reload refused, the running configuration stays:\n/);
  assert.ok(
    (refused.issues as string[]).some((issue) => issue.startsWith(`${file}:`) && issue.includes('unknown field "retrun"')),
    JSON.stringify(refused),
  );
  for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.base}/`)).body, "two");
  const scrape = (await get(`${admin}/metrics`)).body;
  assert.match(scrape, /portico_config_reloads_total\{result="ok"\} 1\n/);
  assert.match(scrape, /portico_config_reloads_total\{result="refused"\} 1\n/);

  assert.deepEqual(await gw.stop(), { code: 0, signal: null });
  assert.ok(gw.logs.some((line) => line.msg === "stopped"));
  await assert.rejects(get(`${gw.base}/`), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
});

test("workers: a slot that keeps crashing is given up, the other worker keeps serving", async (t) => {
  const { file } = setup(t, "alive");
  const gw = await startPortico(file);
  t.after(() => gw.child.kill("SIGKILL"));
  let pid = gw.logs.find((line) => line.msg === "worker 1 listening")?.pid as number;
  assert.ok(pid);
  for (let crash = 1; crash <= 5; crash++) {
    const before = gw.logs.length;
    process.kill(pid, "SIGKILL");
    if (crash < 5) {
      const next = await gw.waitLog(`worker 1 after crash ${crash}`, (line) => line.msg === "worker 1 listening", before);
      pid = next.pid as number;
    } else {
      const gaveUp = await gw.waitLog("the crash loop", (line) => line.code === "PTC_ERR_WORKER_CRASH_LOOP", before);
      assert.equal(gaveUp.worker, 1);
    }
  }
  const answer = await getUntil(`${gw.base}/`, (a) => a.status === 200);
  assert.equal(answer.body, "alive");
  assert.deepEqual(await gw.stop(), { code: 0, signal: null });
});

test("workers: a config that does not validate at start: exit 1 with its errors, no worker forked", async (t) => {
  const { file } = setup(t, "x", "lisen: 1\n");
  const result = await runCli(["start", "-c", file]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `${file}:5:1  lisen  unknown field "lisen": did you mean "listen"?\n`);
  assert.doesNotMatch(result.stdout, /worker/);
});
