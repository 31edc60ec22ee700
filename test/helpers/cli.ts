/**
 * Runs the `portico` command as users do: `node bin/portico.js`, the build in dist/. A spawn costs
 * a Node start, not a TypeScript compile of src/ (which, per spawn under load, was most of the CLI
 * tests' time). `npm test` (scripts/run-tests.js) builds dist/ first when src/ is newer; run a test
 * file by hand after `npm run build`, or this module refuses a dist/ older than src/.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HANG_MS } from "./wait.js";

export { waitFor } from "./wait.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("../fixtures/configs/", import.meta.url));
export const REFERENCE = fileURLToPath(new URL("../../examples/reference/portico.yaml", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/portico.js", import.meta.url));

/** The newest mtime under `dir` (ms). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

let distChecked = false;
/** dist/ must be the build of src/ as it is: the schema file is the build's last step. */
function assertDistFresh(): void {
  // scripts/run-tests.js built it (or was told not to) before any test started.
  if (distChecked || process.env.PORTICO_TEST_DIST === "checked") return;
  const stamp = path.join(ROOT, "dist", "portico.schema.json");
  let built = 0;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {}
  if (built < newest(path.join(ROOT, "src"))) throw new Error("dist/ is missing or older than src/: run `npm run build` (npm test does it for you)");
  distChecked = true;
}

/** The environment of the tests, without anything a fixture reads, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(PORTICO_|PORT$|UPSTREAM_URL$|NODE_OPTIONS$|NODE_TEST)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns `portico ARGS…` and waits for it to exit; `timeout` only guards against a hang. */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; timeout?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, options);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portico ${args.join(" ")} did not exit within ${options.timeout ?? HANG_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeout ?? HANG_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): ChildProcess {
  assertDistFresh();
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Lines of output, without the empty one after the last newline. */
/** One pino log line of `portico start`. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * Parses a child's stdout into `logs`, a JSON line at a time, as it arrives. A line that is not
 * JSON throws unless `lenient`, where it is kept as `{ level: 0, msg: line }`.
 */
export function collectLogLines(stdout: NodeJS.ReadableStream | null, logs: LogLine[], lenient = false): void {
  let buffer = "";
  stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
      if (line.trim() === "") continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch (error) {
        if (!lenient) throw error;
        logs.push({ level: 0, msg: line });
      }
    }
  });
}

export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
