/**
 * A real `portico start -c FILE` (bin/portico.js, the build), its JSON log lines as they come (the
 * primary's and its workers' share stdout), helpers to wait for a line and to make plain requests.
 * Killed in `t.after` by whoever starts it.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { type Agent, request } from "node:http";
import { collectLogLines, type LogLine, spawnCli } from "./cli.js";
import { HANG_MS, waitFor } from "./wait.js";

export type { LogLine };

export interface PorticoProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  /** `http://127.0.0.1:PORT` of the first listener. */
  base: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first log line after index `from` that `match` accepts. */
  waitLog(what: string, match: (line: LogLine) => boolean, from?: number, timeout?: number): Promise<LogLine>;
  /** SIGTERM, then the exit (SIGKILL if it takes longer than `timeout`). */
  stop(timeout?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startPortico(file: string, options: { env?: Record<string, string>; timeout?: number } = {}): Promise<PorticoProcess> {
  const child = spawnCli(["start", "-c", file], { env: options.env ?? {} });
  const logs: LogLine[] = [];
  let stderr = "";
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      exited = true;
      resolve({ code, signal });
    }),
  );
  collectLogLines(child.stdout, logs, true);
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const waitLog = (what: string, match: (line: LogLine) => boolean, from = 0, timeout = HANG_MS) =>
    waitFor(
      what,
      () => {
        const found = logs.slice(from).find(match);
        if (found === undefined && exited) throw new Error(`portico exited while waiting for ${what}:\n${stderr}\n${JSON.stringify(logs.slice(-20))}`);
        return found;
      },
      timeout,
    );
  const listening = await waitLog("the listening log line", (line) => line.msg.startsWith("portico listening on "), 0, options.timeout ?? HANG_MS);
  const match = /^portico listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(listening.msg);
  assert.ok(match, listening.msg);
  return {
    child,
    logs,
    stderr: () => stderr,
    base: match[1] as string,
    exit,
    waitLog,
    async stop(timeout = HANG_MS) {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  reusedSocket: boolean;
}

/** One request; `agent: false` (the default) opens a new connection. */
export function get(
  url: string,
  options: { agent?: Agent | false; method?: string; headers?: Record<string, string>; timeout?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: options.agent ?? false, method: options.method ?? "GET", headers: options.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, reusedSocket: req.reusedSocket }));
      res.on("error", reject);
    });
    req.on("error", reject);
    // A request that hangs is a failure, not a wedged test.
    req.setTimeout(options.timeout ?? HANG_MS, () => req.destroy(Object.assign(new Error("no answer in time"), { code: "TIMEOUT" })));
    req.end();
  });
}

/** Asks `url` until `accept` takes the answer (a hang after `timeout` ms); resolves with it. */
export async function getUntil(url: string, accept: (answer: Answer) => boolean, timeout = HANG_MS): Promise<Answer> {
  let last: Answer | Error | undefined;
  const deadline = performance.now() + timeout;
  while (performance.now() < deadline) {
    try {
      last = await get(url);
      if (accept(last)) return last;
    } catch (error) {
      last = error as Error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no acceptable answer from ${url} within ${timeout} ms; the last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
