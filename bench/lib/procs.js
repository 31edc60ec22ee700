// Child processes and temp dirs of one bench run, all tracked here so that
// every exit path (end, error, Ctrl-C) can tear them down.
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const running = new Set();
const tempDirs = new Set();
let closing = false; // once cleanup begins, nothing new may start
const TAIL_BYTES = 4096;

export function makeTempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "portico-bench-"));
  tempDirs.add(dir);
  return dir;
}

/** A port the OS just handed out; the subject binds it right after. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a process in its own process group (so killing the group also takes
 * any workers it forks) and keeps the tail of its output for error reports.
 */
export function start(name, cmd, args, { cwd, env } = {}) {
  if (closing) throw new Error("bench is shutting down");
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = { name, child, stdout: "", stderr: "", exit: null };
  // Always drain the pipes: a child blocked on a full stdout would skew results.
  child.stdout.on("data", (d) => {
    proc.stdout = (proc.stdout + d).slice(-TAIL_BYTES);
  });
  child.stderr.on("data", (d) => {
    proc.stderr = (proc.stderr + d).slice(-TAIL_BYTES);
  });
  proc.exited = new Promise((resolve) => {
    child.on("error", (err) => {
      proc.stderr += `\n${err.message}`;
      proc.exit ??= { code: null, signal: null, error: err.message };
      running.delete(proc);
      resolve(proc.exit);
    });
    child.on("close", (code, signal) => {
      proc.exit ??= { code, signal };
      running.delete(proc);
      resolve(proc.exit);
    });
  });
  running.add(proc);
  return proc;
}

/** Resolves once something accepts TCP connections on the port; throws if the process dies first or time runs out. */
export async function waitForPort(port, proc, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exit) throw new Error(`exited (${describeExit(proc.exit)}) before listening`);
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`not listening on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

export function describeExit({ code, signal, error }) {
  return error ?? (signal ? `signal ${signal}` : `code ${code}`);
}

/** SIGTERM the group, SIGKILL it if it is still there after a grace period. */
export async function stop(proc, graceMs = 2000) {
  if (proc.exit) return;
  signalGroup(proc, "SIGTERM");
  const timer = sleep(graceMs).then(() => "timeout");
  if ((await Promise.race([proc.exited, timer])) === "timeout") {
    signalGroup(proc, "SIGKILL");
    await proc.exited;
  }
}

export async function stopAll() {
  closing = true;
  await Promise.all([...running].map((p) => stop(p)));
}

/** Last resort from process.on("exit"), where nothing async runs any more. */
export function cleanupSync() {
  closing = true;
  for (const proc of running) signalGroup(proc, "SIGKILL");
  running.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function signalGroup(proc, signal) {
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // already gone
  }
}

/** Last lines of a process's output, for "failed to start" reports. */
export function outputTail(proc, lines = 15) {
  const parts = [];
  for (const stream of ["stderr", "stdout"]) {
    const text = proc[stream].trim();
    if (text) parts.push(`${stream}:\n${text.split("\n").slice(-lines).join("\n")}`);
  }
  return parts.join("\n") || "(no output)";
}

/**
 * CPU plan: subject on the first allowed CPU, upstream and wrk on the second,
 * so the proxy under test never competes with the load generator.
 */
export function cpuPlan(hasTaskset) {
  const cpus = allowedCpus();
  if (!hasTaskset) return { subject: [], load: [], note: "taskset not found: running unpinned" };
  if (cpus.length < 2) return { subject: [], load: [], note: "only 1 CPU: running unpinned" };
  const [a, b] = cpus;
  return {
    subject: ["taskset", "-c", String(a)],
    load: ["taskset", "-c", String(b)],
    note: `subject pinned to CPU ${a}; upstream and wrk pinned to CPU ${b} (${cpus.length} CPUs allowed)`,
  };
}

function allowedCpus() {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))[1];
    return list.split(",").flatMap((range) => {
      const [lo, hi = lo] = range.split("-").map(Number);
      return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    });
  } catch {
    return Array.from({ length: os.availableParallelism() }, (_, i) => i);
  }
}

/** Full path of an executable found in extraDirs or on PATH, or null. */
export function which(name, extraDirs = []) {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? "").split(path.delimiter)]) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** [cmd, ...args] with an optional taskset prefix. */
export function pinned(prefix, cmd, args) {
  return prefix.length ? [prefix[0], [...prefix.slice(1), cmd, ...args]] : [cmd, args];
}
