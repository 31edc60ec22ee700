/**
 * Prometheus metrics with prom-client, in a registry of the gateway's own (so that two gateways in
 * one process do not mix). The per-request metrics are plain numbers per location, bound when a
 * table is compiled: a request adds to a few array slots (no label hashing, no `labels()`), and
 * custom metric objects turn them into Prometheus series when scraped. Rare events (limits, cache,
 * health, reloads) use prom-client's metrics directly.
 *
 * Workers: in a `node:cluster` worker, `createMetrics()` registers its registry with prom-client's
 * AggregatorRegistry; the primary answers a scrape with `clusterMetrics()` (below), which asks
 * every worker over IPC and sums their counters and histograms.
 */
import cluster from "node:cluster";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, type PrometheusContentType, Registry } from "prom-client";
import { authRejected, cacheStatus, configReload, limitRejected, storeFailed, upstreamHealth } from "./channels.js";
import type { AccessRecord } from "./record.js";

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STATUS_CLASSES = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"];
const METHOD_INDEX: Record<string, number> = Object.fromEntries(METHODS.map((m, i) => [m, i]));
const OTHER = METHODS.length - 1;

/**
 * The counts of one location, in plain arrays: a request adds to them without prom-client's label
 * hashing; the registry reads them when scraped (custom metric objects below).
 */
export class LocationMetrics {
  readonly labels: { virtual_host: string; location: string };
  /** [status class 0..5][method] request counts. */
  readonly requests = new Float64Array(6 * METHODS.length);
  readonly duration = new HistogramData();
  readonly upstream = new HistogramData();
  bytesIn = 0;
  bytesOut = 0;

  constructor(virtualHost: string, location: string) {
    this.labels = { virtual_host: virtualHost, location };
  }
}

class HistogramData {
  /** Non-cumulative counts per bucket; the last is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.sum += seconds;
    this.count++;
  }
}

interface MetricValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A metric object prom-client's Registry (and AggregatorRegistry) can read: name, help, type, get(). */
function customMetric(name: string, help: string, type: "counter" | "histogram", values: () => MetricValue[]) {
  return {
    name,
    help,
    type,
    aggregator: "sum" as const,
    get: async () => ({ name, help, type, aggregator: "sum" as const, values: values() }),
    reset: () => undefined,
  };
}

function histogramValues(name: string, locations: Iterable<LocationMetrics>, pick: (l: LocationMetrics) => HistogramData): MetricValue[] {
  const out: MetricValue[] = [];
  for (const location of locations) {
    const data = pick(location);
    if (data.count === 0) continue;
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cumulative += data.buckets[i] as number;
      out.push({ metricName: `${name}_bucket`, labels: { ...location.labels, le: DURATION_BUCKETS[i] as number }, value: cumulative });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...location.labels, le: "+Inf" }, value: data.count });
    out.push({ metricName: `${name}_sum`, labels: location.labels, value: data.sum });
    out.push({ metricName: `${name}_count`, labels: location.labels, value: data.count });
  }
  return out;
}

export interface Metrics {
  readonly registry: Registry;
  bind(virtualHost: string, location: string): LocationMetrics;
  observe(bound: LocationMetrics, record: AccessRecord): void;
  /** Marks the configured upstream servers (healthy until a health report says otherwise). */
  knowUpstreams(servers: ReadonlyArray<{ upstream: string; server: string }>): void;
  /** The Prometheus text of this process. */
  text(): Promise<string>;
  close(): void;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "portico_" });
  const locations = new Map<string, LocationMetrics>();
  const requestsName = "portico_http_requests_total";
  registry.registerMetric(
    customMetric(requestsName, "Requests answered, by virtual host, location, method and status class.", "counter", () => {
      const out: MetricValue[] = [];
      for (const location of locations.values()) {
        for (let cls = 0; cls < 6; cls++) {
          for (let m = 0; m < METHODS.length; m++) {
            const value = location.requests[cls * METHODS.length + m] as number;
            if (value > 0) out.push({ labels: { ...location.labels, method: METHODS[m] as string, status: STATUS_CLASSES[cls] as string }, value });
          }
        }
      }
      return out;
    }) as never,
  );
  registry.registerMetric(
    customMetric("portico_http_request_duration_seconds", "Time from the request's arrival to the last byte of the answer.", "histogram", () =>
      histogramValues("portico_http_request_duration_seconds", locations.values(), (l) => l.duration),
    ) as never,
  );
  registry.registerMetric(
    customMetric("portico_upstream_duration_seconds", "Time from sending a request upstream to the last byte of its answer.", "histogram", () =>
      histogramValues("portico_upstream_duration_seconds", locations.values(), (l) => l.upstream),
    ) as never,
  );
  registry.registerMetric(
    customMetric("portico_http_request_bytes_total", "Bytes received from clients.", "counter", () =>
      [...locations.values()].filter((l) => l.bytesIn > 0).map((l) => ({ labels: l.labels, value: l.bytesIn })),
    ) as never,
  );
  registry.registerMetric(
    customMetric("portico_http_response_bytes_total", "Bytes sent to clients.", "counter", () =>
      [...locations.values()].filter((l) => l.bytesOut > 0).map((l) => ({ labels: l.labels, value: l.bytesOut })),
    ) as never,
  );
  const upstreamUp = new Gauge({
    name: "portico_upstream_healthy",
    help: "1 when the upstream server is considered healthy, 0 when not.",
    labelNames: ["upstream", "server"],
    registers: [registry],
    // Summed over workers it would count workers; the primary takes the lowest.
    aggregator: "min",
  });
  const limitRejections = new Counter({
    name: "portico_limit_rejections_total",
    help: "Requests refused by a rate or concurrency limit.",
    labelNames: ["plugin", "virtual_host", "location"],
    registers: [registry],
  });
  const cache = new Counter({
    name: "portico_cache_lookups_total",
    help: "proxyCache lookups by result (HIT, MISS, EXPIRED, STALE, BYPASS, REVALIDATED, UPDATING).",
    labelNames: ["status", "location"],
    registers: [registry],
  });
  const authRejections = new Counter({
    name: "portico_auth_rejections_total",
    help: "Requests refused by an auth plugin.",
    labelNames: ["plugin", "location"],
    registers: [registry],
  });
  const storeFailures = new Counter({
    name: "portico_store_failures_total",
    help: "Failures of a plugin's shared store (Redis).",
    labelNames: ["plugin", "fail_open"],
    registers: [registry],
  });
  const reloads = new Counter({
    name: "portico_config_reloads_total",
    help: "Configuration reloads, by result.",
    labelNames: ["result"],
    registers: [registry],
  });

  const known = new Set<string>();
  const s = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    [
      limitRejected.name as string,
      (m) => limitRejections.inc({ plugin: s(pick(m, "plugin")), virtual_host: s(pick(m, "virtualHost")), location: s(pick(m, "location")) }),
    ],
    [cacheStatus.name as string, (m) => cache.inc({ status: s(pick(m, "status")), location: s(pick(m, "location")) })],
    [authRejected.name as string, (m) => authRejections.inc({ plugin: s(pick(m, "plugin")), location: s(pick(m, "location")) })],
    [storeFailed.name as string, (m) => storeFailures.inc({ plugin: s(pick(m, "plugin")), fail_open: String(pick(m, "failOpen") === true) })],
    [upstreamHealth.name as string, (m) => upstreamUp.set({ upstream: s(pick(m, "upstream")), server: s(pick(m, "server")) }, pick(m, "healthy") ? 1 : 0)],
    [configReload.name as string, (m) => reloads.inc({ result: pick(m, "ok") ? "ok" : "refused" })],
  ];
  for (const [name, fn] of subscriptions) subscribe(name, fn);

  if (cluster.isWorker) AggregatorRegistry.setRegistries([registry]);

  return {
    registry,
    bind(virtualHost, location) {
      // The same location keeps its counts across reloads.
      const key = `${virtualHost}\u0000${location}`;
      let bound = locations.get(key);
      if (bound === undefined) {
        bound = new LocationMetrics(virtualHost, location);
        locations.set(key, bound);
      }
      return bound;
    },
    observe(bound, record) {
      const cls = record.status >= 100 && record.status < 600 ? (record.status / 100) | 0 : 0;
      const i = cls * METHODS.length + (METHOD_INDEX[record.method] ?? OTHER);
      bound.requests[i] = (bound.requests[i] as number) + 1;
      bound.duration.observe(record.durationMs / 1000);
      if (record.upstreamMs !== null) bound.upstream.observe(record.upstreamMs / 1000);
      bound.bytesIn += record.bytesIn;
      bound.bytesOut += record.bytesOut;
    },
    knowUpstreams(servers) {
      for (const { upstream, server } of servers) {
        const labels = { upstream, server };
        // A server already reported keeps its state across a reload.
        upstreamUp.labels(labels);
        if (!known.has(`${upstream} ${server}`)) upstreamUp.set(labels, 1);
        known.add(`${upstream} ${server}`);
      }
    },
    text: () => registry.metrics(),
    close() {
      for (const [name, fn] of subscriptions) unsubscribe(name, fn);
      registry.clear();
    },
  };
}
function pick(message: unknown, key: string): unknown {
  return typeof message === "object" && message !== null ? (message as Record<string, unknown>)[key] : undefined;
}

let aggregator: AggregatorRegistry<PrometheusContentType> | null = null;

/**
 * For the primary of a `node:cluster` setup: the Prometheus text summed over every worker's
 * registry (each worker's gateway registers its own on creation). Serve it from the primary's
 * admin listener.
 */
export async function clusterMetrics(): Promise<string> {
  aggregator ??= new AggregatorRegistry();
  return aggregator.clusterMetrics();
}
