/**
 * Runs the `portico` command from source (src/cli/run.ts through tsx), so that the CLI tests
 * always exercise the current code, built or not.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("../fixtures/configs/", import.meta.url));
export const REFERENCE = fileURLToPath(new URL("../../examples/reference/portico.yaml", import.meta.url));
const ENTRY = fileURLToPath(new URL("../../src/cli/run.ts", import.meta.url));

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

/** Spawns `portico ARGS…` and waits for it to exit (bounded by `timeout` ms). */
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
      reject(new Error(`portico ${args.join(" ")} did not exit within ${options.timeout ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeout ?? 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
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

/** Polls `check` every few ms until it returns a value other than undefined, for at most `timeout` ms. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeout = 10_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
