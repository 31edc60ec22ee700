// Runs wrk and turns its text report into numbers.
import { pinned, start } from "./procs.js";

/** One wrk run; resolves to the parsed result (or { error }) plus wrk's raw output. */
export async function runWrk({ url, seconds, connections, script, pin, headers }) {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency"];
  if (script) args.push("-s", script);
  for (const [name, value] of Object.entries(headers ?? {})) args.push("-H", `${name}: ${value}`);
  args.push(url);
  const [cmd, argv] = pinned(pin, "wrk", args);
  const proc = start("wrk", cmd, argv);
  const exit = await proc.exited;
  const parsed = parseWrk(proc.stdout);
  if (exit.code !== 0 || parsed.reqPerSec === null) {
    return { error: `wrk failed (${exit.error ?? `code ${exit.code}`}): ${(proc.stderr || proc.stdout).trim().slice(-300)}` };
  }
  return parsed;
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? "");
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

export function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = {
    // wrk counts status >= 400 here, though it prints "Non-2xx or 3xx".
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    connect: socket ? Number(socket[1]) : 0,
    read: socket ? Number(socket[2]) : 0,
    write: socket ? Number(socket[3]) : 0,
    timeout: socket ? Number(socket[4]) : 0,
  };
  const total = Object.values(errors).reduce((a, b) => a + b, 0);
  return {
    reqPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50Ms: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99Ms: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    transferPerSec: /Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? null,
    errors,
    errorCount: total,
    flagged: total > 0,
  };
}
