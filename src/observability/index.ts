/**
 * What watches requests: the access log, metrics, live stats and tracing, owned by the gateway
 * (counters and files outlive a reload). For each compiled table, `prepare()` gives an Observer,
 * or null when nothing watches: then no handler is wrapped and a request costs nothing more.
 * With one, the table's entry stamps a start time, makes the record and registers one prebuilt
 * `close` listener; the lifecycle names the location (bound at compile time) and the consumer,
 * the upstream layer the upstream fields; the listener finishes the record and hands it to each
 * sink once.
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { LocationSummary } from "../compile/plan.js";
import type { ValidatedConfig } from "../config/types.js";
import { nextRequestId } from "../http/respond.js";
import { AccessLog, type AccessLogFormat } from "./access-log.js";
import { upstreamHealth } from "./channels.js";
import type { ErrorLogStream } from "./error-log.js";
import { createMetrics, type LocationMetrics, type Metrics } from "./metrics.js";
import { AccessRecord, type LocationBinding, OBSERVED, Observation, type ObservedResponse, redactUrl } from "./record.js";
import { LiveStats } from "./stats.js";
import { Tracing } from "./tracing.js";

type Handle = (req: IncomingMessage, res: ServerResponse) => void;

const LAST_READ = Symbol("portico.bytesRead");
const LAST_WRITTEN = Symbol("portico.bytesWritten");
type CountedSocket = { bytesRead?: number; bytesWritten?: number; [LAST_READ]?: number; [LAST_WRITTEN]?: number };

export interface UpstreamHealthState {
  healthy: boolean;
  reason: string | null;
  since: string;
}

/** The sinks one table writes to. */
export class Observer {
  readonly accessLog: AccessLog | null;
  readonly metrics: Metrics | null;
  readonly stats: LiveStats | null;
  readonly tracing: Tracing | null;
  readonly #unmatched: LocationBinding;

  constructor(accessLog: AccessLog | null, metrics: Metrics | null, stats: LiveStats | null, tracing: Tracing | null) {
    this.accessLog = accessLog;
    this.metrics = metrics;
    this.stats = stats;
    this.tracing = tracing;
    this.#unmatched = this.#bind("", "", false);
    const observer = this;
    // One listener for every request: EventEmitter calls it with the response as `this`.
    this.#finish = function onResponseClose(this: ServerResponse) {
      observer.finish(this);
    };
  }

  readonly #finish: (this: ServerResponse) => void;

  #bind(virtualHost: string, location: string, readsCache: boolean): LocationBinding {
    return { virtualHost, location, readsCache, metrics: this.metrics?.bind(virtualHost, location) ?? null };
  }

  /** What a location's requests are counted under, bound once at compile time (the lifecycle sets it per request). */
  bindLocation(summary: LocationSummary): LocationBinding {
    return this.#bind(summary.virtualHost, summary.key, summary.plugins.includes("proxyCache"));
  }

  /** Wraps the table's request entry. */
  wrapTable(handle: Handle, clientAddress: (req: IncomingMessage) => string): Handle {
    const unmatched = this.#unmatched;
    const tracing = this.tracing;
    const onClose = this.#finish;
    return function observedRequest(req, res) {
      const url = req.url ?? "/";
      const record = new AccessRecord(nextRequestId(), clientAddress(req), req.method ?? "GET", redactUrl(url));
      const obs = new Observation(record, performance.now(), req, unmatched);
      if (tracing !== null) {
        const q = url.indexOf("?");
        const started = tracing.start(req, q < 0 ? url : url.slice(0, q));
        obs.span = started.span;
        obs.traceparent = started.traceparent;
        record.traceId = started.span.spanContext().traceId;
      }
      (res as ObservedResponse)[OBSERVED] = obs;
      // `on`, not `once`: a response closes once, and `once` would allocate a wrapper per request.
      res.on("close", onClose);
      handle(req, res);
    };
  }

  /** The response is done (sent or cut): the record is completed and handed to each sink. */
  finish(res: ServerResponse): void {
    const obs = (res as ObservedResponse)[OBSERVED];
    if (obs === undefined) return;
    const record = obs.record;
    const now = performance.now();
    record.durationMs = Math.round((now - obs.start) * 1000) / 1000;
    // nginx's 499: the client closed the connection before an answer began.
    record.status = res.headersSent ? res.statusCode : 499;
    record.time = isoTime(performance.timeOrigin + now);
    const loc = obs.loc;
    record.virtualHost = loc.virtualHost;
    record.location = loc.location;
    if (obs.ctx !== null) {
      record.consumer = obs.ctx.consumer?.name ?? null;
      // The id the response and the upstream carried (requestId plugin), not the one made at the door.
      record.requestId = obs.ctx.requestId;
    }
    if (record.upstream !== null && record.upstreamMs === null && obs.upstreamStart > 0) {
      record.upstreamMs = Math.round((now - obs.upstreamStart) * 1000) / 1000;
    }
    const head = (res as unknown as { _header?: string | null })._header;
    if (loc.readsCache) record.cache = cacheStatusOf(res, head);
    const socket = obs.socket as unknown as CountedSocket | null;
    if (socket) {
      const read = socket.bytesRead ?? 0;
      const written = socket.bytesWritten ?? 0;
      record.bytesIn = read - (socket[LAST_READ] ?? 0);
      record.bytesOut = written - (socket[LAST_WRITTEN] ?? 0);
      socket[LAST_READ] = read;
      socket[LAST_WRITTEN] = written;
    }
    this.accessLog?.write(record, obs, Math.max(0, record.bytesOut - (head?.length ?? 0)));
    if (this.metrics !== null) this.metrics.observe(loc.metrics as LocationMetrics, record);
    this.stats?.observe(record, performance.timeOrigin + now);
    if (obs.span !== null) this.tracing?.end(obs.span, record);
  }
}

let lastMs = 0;
let lastIso = "";
/** ISO time of an epoch ms, formatted once per millisecond. */
function isoTime(epochMs: number): string {
  const ms = Math.floor(epochMs);
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** X-Cache-Status of a response, from the header object or, for a raw header list, the head sent. */
function cacheStatusOf(res: ServerResponse, head: string | null | undefined): string | null {
  const value = res.getHeader("x-cache-status");
  if (value !== undefined) return String(value);
  if (!head) return null;
  const match = /\r\nx-cache-status:\s*([^\r]*)/i.exec(head);
  return match ? (match[1] as string).trim() : null;
}

export interface AccessLogSettings {
  format: AccessLogFormat;
  path: string;
}

/** accessLog from the config: null when off. */
export function accessLogSettings(config: Pick<ValidatedConfig, "accessLog">, baseDir: string): AccessLogSettings | null {
  const value = config.accessLog;
  if (value === undefined || value === false || (value !== true && value.path === false)) return null;
  const format: AccessLogFormat = value === true ? "json" : (value.format ?? "json");
  const where = value === true || value.path === undefined || value.path === false ? "stdout" : value.path;
  return { format, path: where === "stdout" ? "stdout" : path.resolve(baseDir, where) };
}

/** The gateway's observability: survives reloads; each table gets an Observer from prepare(). */
export class Observability {
  readonly stats = new LiveStats();
  readonly errorLog: ErrorLogStream | null;
  readonly upstreams = new Map<string, UpstreamHealthState>();
  #metrics: Metrics | null = null;
  #accessLogs = new Map<string, AccessLog>();
  #tracing: { key: string; tracing: Tracing } | null = null;
  #current: Observer | null = null;
  readonly #onHealth = (message: unknown) => {
    const m = message as { upstream?: string; server?: string; healthy?: boolean; reason?: string };
    this.upstreams.set(`${m.upstream ?? ""} ${m.server ?? ""}`, { healthy: m.healthy === true, reason: m.reason ?? null, since: new Date().toISOString() });
  };

  constructor(errorLog: ErrorLogStream | null) {
    this.errorLog = errorLog;
    subscribe(upstreamHealth.name as string, this.#onHealth);
  }

  get metrics(): Metrics | null {
    return this.#metrics;
  }

  get current(): Observer | null {
    return this.#current;
  }

  /** The Observer for a table compiled from `config`, or null when nothing watches requests. */
  prepare(config: ValidatedConfig, baseDir: string): Observer | null {
    const logSettings = accessLogSettings(config, baseDir);
    let accessLog: AccessLog | null = null;
    if (logSettings) {
      const key = `${logSettings.format} ${logSettings.path}`;
      accessLog = this.#accessLogs.get(key) ?? new AccessLog(logSettings);
      this.#accessLogs.set(key, accessLog);
    }
    const admin = config.admin;
    const metricsOn = admin !== undefined && admin.metrics !== false;
    if (metricsOn) {
      this.#metrics ??= createMetrics({ processMetrics: admin.processMetrics !== false });
      const servers: Array<{ upstream: string; server: string }> = [];
      for (const [name, upstream] of Object.entries(config.upstreams ?? {})) {
        const list: string[] = Array.isArray(upstream.servers) ? upstream.servers : Object.keys(upstream.servers);
        for (const server of list) servers.push({ upstream: name, server });
      }
      this.#metrics.knowUpstreams(servers);
    }
    let tracing: Tracing | null = null;
    if (config.tracing) {
      const t = config.tracing;
      const options = { otlpEndpoint: t.otlpEndpoint, serviceName: t.serviceName ?? "portico", sampleRatio: t.sampleRatio ?? 1, headers: t.headers };
      const key = JSON.stringify(options);
      if (this.#tracing?.key !== key) this.#tracing = { key, tracing: new Tracing(options) };
      tracing = this.#tracing.tracing;
    }
    if (!accessLog && !metricsOn && !tracing) return null;
    const observer = new Observer(accessLog, metricsOn ? this.#metrics : null, metricsOn ? this.stats : null, tracing);
    return observer;
  }

  /** After a table was swapped in (or refused): sinks only other observers used are closed. */
  retain(observer: Observer | null): void {
    this.#current = observer;
    for (const [key, log] of this.#accessLogs) {
      if (observer?.accessLog === log) continue;
      this.#accessLogs.delete(key);
      void log.close();
    }
    if (this.#tracing && observer?.tracing !== this.#tracing.tracing) {
      void this.#tracing.tracing.close();
      this.#tracing = null;
    }
  }

  /** SIGUSR1: reopen log files (after logrotate moved them). */
  reopen(): void {
    for (const log of this.#accessLogs.values()) log.reopen();
    this.errorLog?.reopen();
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#accessLogs.values()].map((log) => log.flush()));
    await this.errorLog?.flush();
    await this.#tracing?.tracing.flush();
  }

  async close(): Promise<void> {
    unsubscribe(upstreamHealth.name as string, this.#onHealth);
    await Promise.all([...this.#accessLogs.values()].map((log) => log.close()));
    this.#accessLogs.clear();
    await this.#tracing?.tracing.close();
    this.#tracing = null;
    this.#metrics?.close();
    this.#metrics = null;
    this.errorLog?.close();
  }
}

export { AccessRecord, Observation, observationOf } from "./record.js";
