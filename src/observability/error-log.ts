/**
 * The error log: the gateway's pino logger (leveled, JSON lines), to stdout or a file of its own
 * (`errorLog.path`), separate from the access log. Warnings and errors are also kept, the last
 * 100, for the admin API and the dashboard. Secrets are redacted before anything is written.
 */
import { pino } from "pino";
import { flushDestination } from "./access-log.js";
import { redactUrl } from "./record.js";

/** pino redact paths: credentials in logged headers never reach a log line. */
export const REDACT_PATHS = [
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'headers["proxy-authorization"]',
  "*.headers.authorization",
  "*.headers.cookie",
  '*.headers["set-cookie"]',
  '*.headers["x-api-key"]',
  '*.headers["proxy-authorization"]',
  "password",
  "token",
  "secret",
  "*.password",
  "*.token",
  "*.secret",
];

type Destination = ReturnType<typeof pino.destination>;

export interface ErrorRecord {
  time: string;
  level: string;
  code?: string;
  msg: string;
  requestId?: string;
  [key: string]: unknown;
}

const LEVELS: Record<number, string> = { 40: "warn", 50: "error", 60: "fatal" };

/** A pino destination that can move to a file (and back to stdout) and keeps recent errors. */
export class ErrorLogStream {
  readonly recent: ErrorRecord[] = [];
  readonly limit: number;
  #dest: Destination = pino.destination({ dest: 1, sync: false });
  #path = "stdout";

  constructor(limit = 100) {
    this.limit = limit;
  }

  write(line: string): void {
    this.#dest.write(line);
    // Level 40+ only: the lines worth keeping are rare, so parsing them costs nothing that matters.
    if (line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60')) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const level = LEVELS[parsed.level as number] ?? String(parsed.level);
        const { time, msg, level: _level, pid: _pid, hostname: _hostname, ...rest } = parsed;
        if (typeof rest.url === "string") rest.url = redactUrl(rest.url);
        this.recent.push({ time: new Date(time as number).toISOString(), level, msg: String(msg ?? ""), ...rest });
        if (this.recent.length > this.limit) this.recent.shift();
      } catch {
        // Not JSON: not ours to keep.
      }
    }
  }

  /** Moves the log to `path` ("stdout" or a file). */
  setPath(path: string | undefined): void {
    const next = path ?? "stdout";
    if (next === this.#path) return;
    const previous = this.#dest;
    const wasFile = this.#path !== "stdout";
    this.#dest = next === "stdout" ? pino.destination({ dest: 1, sync: false }) : pino.destination({ dest: next, sync: false, mkdir: true, append: true });
    this.#path = next;
    if (wasFile) previous.end();
  }

  reopen(): void {
    if (this.#path !== "stdout") this.#dest.reopen();
  }

  flush(): Promise<void> {
    return flushDestination(this.#dest);
  }

  close(): void {
    if (this.#path !== "stdout") this.#dest.end();
  }
}

/** The gateway's own logger, writing to `stream`. */
export function createErrorLogger(stream: ErrorLogStream, level: string) {
  return pino({ level, base: { name: "portico" }, redact: { paths: REDACT_PATHS, censor: "[REDACTED]" } }, stream);
}
