// `npm run bench`: Portico against a bare undici proxy, the npm peers and
// nginx, under wrk. See bench/README.md for what the numbers mean.
import { execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findNginx, nginxVersion } from "./lib/nginx.js";
import { machineBusy, watchOthers } from "./lib/noise.js";
import { cleanupSync, cpuPlan, describeExit, freePort, makeTempDir, outputTail, pinned, start, stop, stopAll, waitForPort, which } from "./lib/procs.js";
import { describeErrors, formatScenario, pct, summarize } from "./lib/report.js";
import { checkResponse, PEERS, selectScenarios, writePostScript } from "./lib/scenarios.js";
import { StartError, SUBJECTS } from "./lib/subjects.js";
import { runWrk } from "./lib/wrk.js";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(benchDir);
const WARMUP_SECONDS = 2;
const PEER_PACKAGES = ["fastify", "@fastify/http-proxy", "fast-gateway"];
const NOISY = 0.1; // share of all CPUs taken by other processes during a run that makes it noisy
let interrupted = false; // set by Ctrl-C: stop reporting, just clean up

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

async function main() {
  const seconds = positiveInt("BENCH_DURATION", 10);
  const connections = positiveInt("BENCH_CONNECTIONS", 50);
  const scenarios = selectScenarios(process.env.BENCH_ONLY);
  if (!which("wrk")) throw new Error("wrk not found on PATH (Debian: apt-get install wrk)");

  const plan = cpuPlan(Boolean(which("taskset")));
  const nginx = findNginx();
  console.log(`pinning: ${plan.note}`);
  if (!nginx) console.log("nginx not found (/usr/sbin/nginx or PATH): skipping its rows");

  const busy = await machineBusy();
  if (busy !== null && busy > NOISY) console.log(`warning: the machine was ${pct(busy)} busy before the run: expect noisy numbers`);

  const wanted = Object.keys(SUBJECTS).filter((s) => scenarios.some((sc) => sc.subjects.includes(s)));
  if (wanted.some((s) => PEERS.includes(s))) await ensurePeers();

  const tmp = makeTempDir();
  const postScript = writePostScript(tmp);

  // The upstream shares the load CPU with wrk; it is started once for every subject.
  const upstreamPort = await freePort();
  const upstreamPort2 = await freePort();
  const [ucmd, uargs] = pinned(plan.load, process.execPath, [path.join(benchDir, "servers", "upstream.js")]);
  const upstream = start("upstream", ucmd, uargs, { env: { PORT: String(upstreamPort), PORT2: String(upstreamPort2) } });
  try {
    await waitForPort(upstreamPort, upstream);
  } catch (err) {
    throw new Error(`upstream failed to start: ${err.message}\n${outputTail(upstream)}`);
  }

  // Redis for the limitCount-in-Redis row, pinned with the load side like the upstream.
  let redis = null;
  if (scenarios.some((s) => s.variants?.some((v) => v.needs === "redis")) && which("redis-server")) {
    const redisPort = await freePort();
    const [rcmd, rargs] = pinned(plan.load, "redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    redis = start("redis", rcmd, rargs);
    redis.port = redisPort;
    await waitForPort(redisPort, redis);
  }

  const keys = benchKeys(tmp);
  const ctx = { root, benchDir, tmp, upstreamPort, upstreamPort2, nginx, pin: plan.subject, redis, jwt: keys.jwt, jwtPublicKey: keys.publicKeyFile };
  const rows = new Map(scenarios.map((s) => [s.id, []]));
  const problems = {};

  // Subject by subject, so only one subject (plus the upstream) is alive while measured.
  for (const subject of wanted) {
    const mine = scenarios.filter((s) => s.subjects.includes(subject));
    let running;
    try {
      running = await SUBJECTS[subject].start(ctx);
    } catch (err) {
      if (!(err instanceof StartError)) throw err;
      const skipped = err.message.startsWith("skipped: ");
      const row = skipped ? { status: "skipped", reason: err.message.slice(9) } : { status: "failed to start", reason: err.message };
      if (!skipped) problems[subject] = { reason: `failed to start: ${err.message}`, detail: err.detail };
      for (const s of mine) rows.get(s.id).push({ subject, ...row });
      console.log(`${subject}: ${row.status}: ${row.reason}`);
      continue;
    }
    try {
      for (const s of mine) {
        const groups = [upstream.child.pid, running.proc?.child.pid, ctx.redis?.child.pid].filter(Boolean);
        // A scenario with variants measures several locations of the same Portico, one row each,
        // in the order A B C … C B A: each row is the mean of its two runs, so that a drift of the
        // machine over the scenario weighs the same on every row.
        const variants = s.variants ? [...s.variants, ...[...s.variants].reverse()] : [{ label: subject, path: s.path }];
        const runs = new Map();
        for (const variant of variants) {
          const label = variant.label;
          if (variant.needs === "redis" && !ctx.redis) {
            rows.get(s.id).push({ subject: label, status: "skipped", reason: "redis-server not installed" });
            continue;
          }
          const headers = Object.fromEntries(Object.entries(variant.headers ?? {}).map(([k, v]) => [k, v.replace("$JWT", ctx.jwt)]));
          const run = { ...s, path: variant.path, headers };
          const row = { ...(await measure(subject, running, run, { seconds, connections, postScript, pin: plan.load, groups })), subject: label };
          if (s.variants) runs.set(label, [...(runs.get(label) ?? []), row]);
          else rows.get(s.id).push(row);
          if (interrupted) return;
          console.log(`  ${s.id}) ${label.padEnd(19)} ${progress(row)}`);
          if (row.status === "crashed" && !problems[subject]) problems[subject] = { reason: `crashed: ${row.reason}`, detail: outputTail(running.proc) };
        }
        for (const list of runs.values()) rows.get(s.id).push(meanRow(list));
      }
    } finally {
      if (running.proc) await stop(running.proc);
    }
  }

  const summaries = scenarios.map((s) => summarize(s, rows.get(s.id)));
  console.log("");
  for (const s of summaries) console.log(`${formatScenario(s, { seconds, connections })}\n`);
  for (const [subject, { reason, detail }] of Object.entries(problems)) {
    console.log(`${subject}: ${reason}${detail ? `\n${indent(detail)}` : ""}\n`);
  }

  const out = path.join(benchDir, "results", "latest.json");
  mkdirSync(path.dirname(out), { recursive: true });
  const meta = { ...environment({ seconds, connections, plan, nginx }), busyBefore: busy };
  writeFileSync(out, `${JSON.stringify({ ...meta, scenarios: summaries, problems }, null, 2)}\n`);
  console.log(`results written to ${path.relative(process.cwd(), out) || out}`);
}

/** Check the answer, warm up, then the measured run; never throws for a subject's fault. */
async function measure(subject, running, scenario, { seconds, connections, postScript, pin, groups }) {
  const died = () => running.proc?.exit && { subject, status: "crashed", reason: `exited (${describeExit(running.proc.exit)})` };
  if (died()) return died();
  const wrong = await checkResponse(running.port, scenario);
  if (wrong) return { subject, status: "wrong answer", reason: wrong };
  const wrk = {
    url: `http://127.0.0.1:${running.port}${scenario.path}`,
    connections,
    pin,
    script: scenario.post ? postScript : undefined,
    headers: scenario.headers,
  };
  await runWrk({ ...wrk, seconds: WARMUP_SECONDS });
  const others = watchOthers(groups);
  const result = await runWrk({ ...wrk, seconds });
  const othersCpu = others();
  if (died()) return died();
  if (result.error) return { subject, status: "wrk failed", reason: result.error };
  return { subject, status: "ok", ...result, othersCpu, noisy: othersCpu > NOISY };
}

/** One row from several runs of the same subject: means of the rates and latencies; any problem wins. */
function meanRow(list) {
  const bad = list.find((row) => row.status !== "ok");
  if (bad) return bad;
  const mean = (key) => list.reduce((sum, row) => sum + row[key], 0) / list.length;
  const errors = Object.fromEntries(Object.keys(list[0].errors).map((key) => [key, list.reduce((sum, row) => sum + row.errors[key], 0)]));
  return {
    ...list[0],
    reqPerSec: mean("reqPerSec"),
    requests: list.reduce((sum, row) => sum + row.requests, 0),
    p50Ms: mean("p50Ms"),
    p99Ms: mean("p99Ms"),
    errors,
    errorCount: list.reduce((sum, row) => sum + row.errorCount, 0),
    flagged: list.some((row) => row.flagged),
    othersCpu: Math.max(...list.map((row) => row.othersCpu)),
    noisy: list.some((row) => row.noisy),
  };
}

/** An RS256 key pair and a token for the jwtAuth row (signed here with node:crypto; Portico verifies it with jose). */
function benchKeys(dir) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicKeyFile = path.join(dir, "jwt-public.pem");
  writeFileSync(publicKeyFile, publicKey.export({ type: "spki", format: "pem" }));
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ sub: "bench", iss: "bench", exp: Math.floor(Date.now() / 1000) + 86400 })}`;
  const jwt = `${input}.${sign("RSA-SHA256", Buffer.from(input), privateKey).toString("base64url")}`;
  return { jwt, publicKeyFile };
}

function progress(row) {
  if (row.status !== "ok") return `${row.status}: ${row.reason}`;
  const errs = (row.flagged ? `  ! ${describeErrors(row.errors)}` : "") + (row.noisy ? `  ~ others used ${pct(row.othersCpu)} of the CPUs` : "");
  return `${Math.round(row.reqPerSec).toLocaleString("en-US")} req/s  p50 ${row.p50Ms?.toFixed(2)} ms  p99 ${row.p99Ms?.toFixed(2)} ms${errs}`;
}

const indent = (text) => text.replace(/^/gm, "    ");

/** First run (or a partial install): npm install from bench/package-lock.json. */
async function ensurePeers() {
  const missing = PEER_PACKAGES.filter((p) => !existsSync(path.join(benchDir, "node_modules", p, "package.json")));
  if (!missing.length) return;
  console.log(`installing the npm peers into bench/node_modules (missing: ${missing.join(", ")})`);
  const code = await new Promise((resolve) => {
    const npm = spawn("npm", ["install", "--prefix", "bench", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
    npm.on("error", () => resolve(-1));
    npm.on("close", resolve);
  });
  if (code !== 0) console.log("npm install failed: the npm peers will show as failed to start");
}

function environment({ seconds, connections, plan, nginx }) {
  const version = (dir) => {
    try {
      return JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  let commit = null;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    // not a git checkout, or no commit yet
  }
  return {
    date: new Date().toISOString(),
    commit,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.availableParallelism(),
    pinning: plan.note,
    wrk: { threads: 1, connections, seconds, warmupSeconds: WARMUP_SECONDS },
    versions: {
      undici: version(path.join(root, "node_modules", "undici")),
      ...Object.fromEntries(PEER_PACKAGES.map((p) => [p, version(path.join(benchDir, "node_modules", p))])),
      nginx: nginx ? nginxVersion(nginx) : null,
    },
  };
}

// Every exit path tears down what was started: normal end, error, Ctrl-C.
let cleaning;
const cleanup = () => {
  cleaning ??= stopAll().finally(cleanupSync);
  return cleaning;
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping every process the bench started`);
    cleanup().finally(() => process.exit(128 + os.constants.signals[signal]));
  });
}
process.on("exit", cleanupSync);

try {
  await main();
} catch (err) {
  if (!interrupted) console.error(`bench: ${err.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
