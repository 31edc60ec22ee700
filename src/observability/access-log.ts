/**
 * The access log: one line per request, JSON (the record as it is) or nginx's `combined` format,
 * to stdout or a file through pino's destination (sonic-boom: buffered, asynchronous writes).
 * `reopen()` reopens the file after logrotate moved it, as nginx does on SIGUSR1.
 */
import { pino } from "pino";
import type { AccessRecord, Observation } from "./record.js";

export type AccessLogFormat = "json" | "combined";

export interface AccessLogOptions {
  format: AccessLogFormat;
  /** A file path, or "stdout". */
  path: string;
}

type Destination = ReturnType<typeof pino.destination>;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

/** nginx $time_local: `26/Nov/2026:07:34:15 +0000` (UTC). */
function timeLocal(date: Date): string {
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

function headerValue(raw: string[], name: string): string {
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) return raw[i + 1] as string;
  return "-";
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: what JSON must escape
const NEEDS_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;
const str = (value: string): string => (NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`);
const optional = (value: string | null): string => (value === null ? "null" : str(value));

/** The record as one JSON line, the same as JSON.stringify(record) gives, without walking the object generically. */
export function jsonLine(r: AccessRecord): string {
  return `{"time":"${r.time}","requestId":${str(r.requestId)},"client":${str(r.client)},"virtualHost":${str(r.virtualHost)},"location":${str(r.location)},"consumer":${optional(r.consumer)},"method":${str(r.method)},"path":${str(r.path)},"status":${r.status},"bytesIn":${r.bytesIn},"bytesOut":${r.bytesOut},"upstream":${optional(r.upstream)},"upstreamStatus":${r.upstreamStatus},"upstreamMs":${r.upstreamMs},"durationMs":${r.durationMs},"cache":${optional(r.cache)},"traceId":${optional(r.traceId)}}\n`;
}

/** nginx escapes `"` and control bytes in log variables. */
function escapeLog(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what gets escaped
  return /["\\\x00-\x1f\x7f]/.test(value) ? value.replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : value;
}

/** `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`. */
export function combinedLine(record: AccessRecord, obs: Observation, bodyBytes: number): string {
  const req = obs.req;
  const raw = req.rawHeaders;
  return `${record.client || "-"} - ${record.consumer ? escapeLog(record.consumer) : "-"} [${timeLocal(new Date(record.time))}] "${escapeLog(record.method)} ${escapeLog(record.path)} HTTP/${req.httpVersion}" ${record.status} ${bodyBytes} "${escapeLog(headerValue(raw, "referer"))}" "${escapeLog(headerValue(raw, "user-agent"))}"\n`;
}

/** Resolves once what was written to a pino destination reached its file (after it opened). */
export function flushDestination(dest: Destination): Promise<void> {
  // sonic-boom's own flush() returns at once without minLength: watch its state instead.
  const state = dest as unknown as { fd: number; _writing: boolean; _len: number };
  const idle = () => state.fd >= 0 && !state._writing && state._len === 0;
  return new Promise((resolve) => {
    if (idle()) {
      resolve();
      return;
    }
    const check = () => {
      if (!idle()) return;
      dest.off("drain", check);
      dest.off("ready", check);
      resolve();
    };
    dest.on("drain", check);
    dest.on("ready", check);
  });
}

export class AccessLog {
  readonly format: AccessLogFormat;
  readonly path: string;
  readonly #dest: Destination;

  constructor(options: AccessLogOptions) {
    this.format = options.format;
    this.path = options.path;
    // Write-through: while one write is in flight, the lines that follow gather and go out in
    // the next one, so a busy gateway writes in large chunks and a quiet one at once.
    this.#dest = pino.destination({
      dest: options.path === "stdout" ? 1 : options.path,
      sync: false,
      ...(options.path === "stdout" ? {} : { mkdir: true, append: true }),
    });
  }

  write(record: AccessRecord, obs: Observation, bodyBytes: number): void {
    this.#dest.write(this.format === "json" ? jsonLine(record) : combinedLine(record, obs, bodyBytes));
  }

  /** Reopens the file (after logrotate renamed it): SIGUSR1. */
  reopen(): void {
    if (this.path !== "stdout") this.#dest.reopen();
  }

  /** Resolves once what was written so far has reached the file. */
  flush(): Promise<void> {
    return flushDestination(this.#dest);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.path !== "stdout") this.#dest.end();
  }
}
