/**
 * Live counters for the admin API and the dashboard: the last minute in one-second slots, each
 * with a request count, the status mix and a log-scale latency histogram (4 buckets per doubling,
 * from 0.1 ms), from which p50/p90/p99 are read. Fixed memory, no allocation per request.
 */
import type { AccessRecord } from "./record.js";

const SLOTS = 60;
const BUCKETS = 80;
const BASE_MS = 0.1;

/** Upper bound of bucket i, in ms. */
const bound = (i: number) => BASE_MS * 2 ** (i / 4);

function bucketOf(ms: number): number {
  if (ms <= BASE_MS) return 0;
  const i = Math.ceil(4 * Math.log2(ms / BASE_MS));
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

export interface StatsSnapshot {
  /** Since the gateway started. */
  total: number;
  totalByClass: Record<string, number>;
  /** Requests per second over the last 10 seconds. */
  rps: number;
  /** Requests per second, one value per second, oldest first (the last minute). */
  series: number[];
  /** Status classes over the last minute. */
  statusMix: Record<string, number>;
  /** Latency percentiles over the last minute, in ms (null without traffic). */
  latency: { p50: number | null; p90: number | null; p99: number | null };
  uptimeSeconds: number;
}

const CLASSES = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

export class LiveStats {
  readonly #seconds = new Float64Array(SLOTS).fill(-1);
  readonly #counts = new Uint32Array(SLOTS);
  readonly #classes = new Uint32Array(SLOTS * 6);
  readonly #latency = new Uint32Array(SLOTS * BUCKETS);
  readonly #totalByClass = new Float64Array(6);
  readonly #started = Date.now();
  #total = 0;

  #slot(second: number): number {
    const slot = second % SLOTS;
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second;
      this.#counts[slot] = 0;
      this.#classes.fill(0, slot * 6, slot * 6 + 6);
      this.#latency.fill(0, slot * BUCKETS, slot * BUCKETS + BUCKETS);
    }
    return slot;
  }

  observe(record: AccessRecord, nowMs: number): void {
    const slot = this.#slot(Math.floor(nowMs / 1000));
    const cls = record.status >= 100 && record.status < 600 ? (record.status / 100) | 0 : 0;
    this.#counts[slot] = (this.#counts[slot] as number) + 1;
    this.#classes[slot * 6 + cls] = (this.#classes[slot * 6 + cls] as number) + 1;
    const b = slot * BUCKETS + bucketOf(record.durationMs);
    this.#latency[b] = (this.#latency[b] as number) + 1;
    this.#total++;
    this.#totalByClass[cls] = (this.#totalByClass[cls] as number) + 1;
  }

  snapshot(nowMs = performance.timeOrigin + performance.now()): StatsSnapshot {
    const now = Math.floor(nowMs / 1000);
    const series: number[] = [];
    const mix = new Array<number>(6).fill(0);
    const hist = new Array<number>(BUCKETS).fill(0);
    let lastTen = 0;
    // The current second is partial: the window ends at the last whole second.
    for (let second = now - SLOTS; second < now; second++) {
      const slot = ((second % SLOTS) + SLOTS) % SLOTS;
      if (this.#seconds[slot] !== second) {
        series.push(0);
        continue;
      }
      const count = this.#counts[slot] as number;
      series.push(count);
      if (second >= now - 10) lastTen += count;
      for (let c = 0; c < 6; c++) mix[c] = (mix[c] as number) + (this.#classes[slot * 6 + c] as number);
      for (let i = 0; i < BUCKETS; i++) hist[i] = (hist[i] as number) + (this.#latency[slot * BUCKETS + i] as number);
    }
    // The current second counts too for percentiles and the mix, so that a quiet gateway shows its last requests at once.
    const current = now % SLOTS;
    if (this.#seconds[current] === now) {
      for (let c = 0; c < 6; c++) mix[c] = (mix[c] as number) + (this.#classes[current * 6 + c] as number);
      for (let i = 0; i < BUCKETS; i++) hist[i] = (hist[i] as number) + (this.#latency[current * BUCKETS + i] as number);
    }
    const count = hist.reduce((a, b) => a + b, 0);
    const percentile = (p: number): number | null => {
      if (count === 0) return null;
      const rank = Math.ceil(p * count);
      let seen = 0;
      for (let i = 0; i < BUCKETS; i++) {
        seen += hist[i] as number;
        if (seen >= rank) return Math.round(bound(i) * 1000) / 1000;
      }
      return Math.round(bound(BUCKETS - 1) * 1000) / 1000;
    };
    const byName = (values: ArrayLike<number>) => Object.fromEntries(CLASSES.map((name, i) => [name, values[i] as number]));
    return {
      total: this.#total,
      totalByClass: byName(this.#totalByClass),
      rps: lastTen / 10,
      series,
      statusMix: byName(mix),
      latency: { p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99) },
      uptimeSeconds: Math.round((Date.now() - this.#started) / 1000),
    };
  }
}
