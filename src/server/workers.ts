/**
 * `workers: auto | N`: the primary process forks N workers with node:cluster. Each worker runs a
 * whole gateway and opens the config's listeners; cluster shares the listening sockets (the
 * primary accepts and hands connections round-robin), so no port is opened twice and a worker's
 * death closes no listener. The primary serves no request: it validates the config, restarts a
 * worker that dies (at once, then with a growing delay; it gives up on a slot after a crash loop),
 * turns SIGHUP, `watch` and the admin API's reload into a reload of every worker (validated in the
 * primary first, so that no worker ever sees a config that does not validate), forwards SIGUSR1,
 * stops everyone within shutdownTimeout on SIGTERM/SIGINT, and runs the admin listener, whose
 * /metrics is the sum over the workers.
 *
 * What a worker runs, and the messages between them, are in src/server/worker.ts.
 */
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { AggregatorRegistry } from "prom-client";
import { ConfigError, type ConfigIssue, formatIssue, PorticoError } from "../errors.js";
import { type BoundAddress, checkConfig } from "../gateway.js";
import { configReload } from "../observability/channels.js";
import { createErrorLogger, ErrorLogStream } from "../observability/error-log.js";
import { Observability } from "../observability/index.js";
import { createMetrics, type Metrics } from "../observability/metrics.js";
import type { StatsSnapshot } from "../observability/stats.js";
import { type AdminServer, adminSettings, syncAdminServer } from "./admin.js";
import type { AdminGateway } from "./admin-api.js";
import type { RouteTable } from "./route-table.js";
import { FileWatcher } from "./watch.js";
import { isMessage, type Message, type Question } from "./worker.js";

/** A slot that exits this many times within CRASH_WINDOW_MS is given up. */
export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 60_000;
/** Delay before restarting a slot after its n-th recent crash: none for the first, then doubling up to 10 s. */
export function restartDelay(recentCrashes: number): number {
  return recentCrashes <= 1 ? 0 : Math.min(10_000, 250 * 2 ** (recentCrashes - 2));
}
/** Longest wait for a worker's answer over IPC (a reload compiles the config). */
const ASK_TIMEOUT_MS = 30_000;

export type ReloadSource = "signal" | "watch" | "admin" | "api";

/** How many processes `workers` asks for: "auto" = the cores Node may use; absent = 1. */
export function workerCount(setting: unknown): number {
  if (setting === "auto") return availableParallelism();
  return typeof setting === "number" && Number.isInteger(setting) && setting >= 1 ? setting : 1;
}

/**
 * Runs a reload and reports it as every reload is reported: the warnings, one info line or one
 * error line with the issues, and the `configReload` channel (metrics count it by result).
 */
export async function reloadAndReport(
  logger: Logger,
  file: string,
  source: ReloadSource,
  reload: () => Promise<{ warnings: ConfigIssue[] }>,
): Promise<boolean> {
  try {
    const { warnings } = await reload();
    for (const warning of warnings) logger.warn(formatIssue(warning));
    if (configReload.hasSubscribers) configReload.publish({ ok: true, errors: 0, source });
    logger.info({ config: file, source }, "configuration reloaded");
    return true;
  } catch (error) {
    const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : [(error as Error).message];
    if (configReload.hasSubscribers) configReload.publish({ ok: false, errors: issues.length, source });
    logger.error({ code: "PTC_ERR_CONFIG_INVALID", config: file, source, issues }, `reload refused, the running configuration stays:\n${issues.join("\n")}`);
    return false;
  }
}

/** The files a config depends on: the config file and what it references. */
export function watchedFiles(table: RouteTable): string[] {
  return [table.source.file, ...table.files];
}

/** Stats of several workers as one: counts summed; latency percentiles are each worker's worst (histograms stay in the workers). */
export function mergeStats(snapshots: StatsSnapshot[]): StatsSnapshot {
  const sum = (values: Array<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const value of values) for (const [key, n] of Object.entries(value)) out[key] = (out[key] ?? 0) + n;
    return out;
  };
  const worst = (key: "p50" | "p90" | "p99") => {
    const values = snapshots.map((s) => s.latency[key]).filter((v): v is number => v !== null);
    return values.length === 0 ? null : Math.max(...values);
  };
  const length = Math.max(0, ...snapshots.map((s) => s.series.length));
  return {
    total: snapshots.reduce((n, s) => n + s.total, 0),
    totalByClass: sum(snapshots.map((s) => s.totalByClass)),
    rps: snapshots.reduce((n, s) => n + s.rps, 0),
    series: Array.from({ length }, (_, i) => snapshots.reduce((n, s) => n + (s.series[i] ?? 0), 0)),
    statusMix: sum(snapshots.map((s) => s.statusMix)),
    latency: { p50: worst("p50"), p90: worst("p90"), p99: worst("p99") },
    uptimeSeconds: Math.max(0, ...snapshots.map((s) => s.uptimeSeconds)),
  };
}

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  crashes: number[];
  gaveUp: boolean;
  restartTimer: NodeJS.Timeout | null;
}

/** The entry a worker process runs: worker-main.ts from source, worker-main.js once built. */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `worker-main${path.extname(here)}`);
}

/** The primary: forks, watches over and reloads the workers; serves the admin listener. */
export class Primary implements AdminGateway {
  readonly logger: Logger;
  readonly observability: Observability;
  readonly #file: string;
  readonly #count: number;
  readonly #errorLog: ErrorLogStream;
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, { worker: Worker; resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  #nextId = 1;
  #table: RouteTable;
  #config: Record<string, unknown>;
  #admin: AdminServer | null = null;
  #watcher: FileWatcher | null = null;
  /** The primary's own metrics: reloads are counted here, once, not once per worker. */
  #metrics: Metrics | null = null;
  #stopping = false;
  #starting = true;
  #reloading: Promise<unknown> = Promise.resolve();
  #addresses: BoundAddress[] = [];
  #done: (code: number) => void = () => {};
  readonly finished: Promise<number>;

  constructor(file: string, count: number, checked: { table: RouteTable; config: Record<string, unknown> }, env: NodeJS.ProcessEnv = process.env) {
    this.#file = file;
    this.#count = count;
    this.#table = checked.table;
    this.#config = checked.config;
    this.#errorLog = new ErrorLogStream();
    this.logger = createErrorLogger(this.#errorLog, env.PORTICO_LOG_LEVEL ?? (checked.config.logLevel as string | undefined) ?? "info").child({
      role: "primary",
    });
    this.#applyErrorLog(env);
    this.observability = new Observability(this.#errorLog);
    this.finished = new Promise((resolve) => {
      this.#done = resolve;
    });
  }

  #applyErrorLog(env: NodeJS.ProcessEnv): void {
    const errorLog = this.#config.errorLog as { path?: string; level?: string } | undefined;
    this.#errorLog.setPath(errorLog?.path && errorLog.path !== "stdout" ? path.resolve(this.#table.source.baseDir, errorLog.path) : "stdout");
    const level = env.PORTICO_LOG_LEVEL ?? errorLog?.level ?? (this.#config.logLevel as string | undefined);
    if (level) this.logger.level = level;
  }

  // ── AdminGateway ────────────────────────────────────────────────────────────
  get table(): RouteTable {
    return this.#table;
  }
  get config(): Record<string, unknown> {
    return this.#config;
  }
  get configFile(): string {
    return this.#table.source.file;
  }
  get ready(): boolean {
    return !this.#stopping && this.#slots.some((slot) => slot.ready);
  }
  check(file: string): Promise<{ warnings: ConfigIssue[] }> {
    return checkConfig(file);
  }
  /** Reload of every worker; rejects with a ConfigError (nothing reloaded) or an Error naming the workers that failed. */
  reload(): Promise<{ warnings: ConfigIssue[] }> {
    const run = this.#reloading.then(() => this.#reloadAll());
    this.#reloading = run.catch(() => {});
    return run;
  }
  async purgeCache(options: Record<string, unknown>): Promise<unknown> {
    const answers = (await this.#askAll("purge", options)) as Array<{ purged: number; zones: string[] }>;
    return { purged: answers.reduce((n, a) => n + a.purged, 0), zones: [...new Set(answers.flatMap((a) => a.zones))], workers: answers.length };
  }
  /** Upstream health as the first worker sees it (each worker checks and counts failures on its own). */
  async upstreamStatus(): Promise<unknown> {
    const worker = this.#readyWorkers()[0];
    return worker ? this.#ask(worker, "upstreams") : [];
  }
  readonly workers = {
    metrics: async (): Promise<{ contentType: string; text: string } | null> => {
      const admin = this.#config.admin as { metrics?: boolean } | undefined;
      if (admin === undefined || admin.metrics === false) return null;
      const parts: object[] = (await this.#askAll("metrics")).filter((part): part is object[] => Array.isArray(part));
      if (this.#metrics) parts.push(await this.#metrics.registry.getMetricsAsJSON());
      const registry = AggregatorRegistry.aggregate(parts);
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
    stats: async (): Promise<StatsSnapshot> => mergeStats((await this.#askAll("stats")) as StatsSnapshot[]),
    errors: async (): Promise<unknown[]> => {
      const lists = (await this.#askAll("errors")) as Array<Array<{ time: string }>>;
      const own = this.#errorLog.recent;
      return [...own, ...lists.flat()].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0)).slice(0, this.#errorLog.limit);
    },
  };

  // ── lifecycle ───────────────────────────────────────────────────────────────
  /** Forks the workers and waits until each listens; resolves with the addresses, rejects when one cannot start. */
  async start(): Promise<BoundAddress[]> {
    cluster.setupPrimary({ exec: workerEntry(), args: [this.#file] });
    if ((this.#config.admin as { metrics?: boolean } | undefined)?.metrics !== false && this.#config.admin !== undefined) {
      this.#metrics = createMetrics({ processMetrics: false });
    }
    const started = new Promise<void>((resolve, reject) => {
      let ready = 0;
      this.#onStartupReady = () => {
        ready++;
        if (ready === this.#count) resolve();
      };
      this.#onStartupFailure = reject;
    });
    for (let index = 0; index < this.#count; index++) {
      const slot: Slot = { index, worker: null, ready: false, crashes: [], gaveUp: false, restartTimer: null };
      this.#slots.push(slot);
      this.#fork(slot);
    }
    try {
      await started;
    } catch (error) {
      await this.#stopWorkers(0);
      throw error;
    }
    this.#starting = false;
    await this.#syncAdmin();
    if (this.#config.watch === true) {
      this.#watcher = new FileWatcher(this.logger, (changed) => {
        this.logger.info({ changed }, "a watched file changed: reloading");
        void this.reloadAndReport("watch");
      });
      await this.#watcher.set(watchedFiles(this.#table));
      this.logger.info({ files: this.#watcher.files }, `watching ${this.#watcher.files.length} files for changes`);
    }
    return this.#addresses;
  }

  #onStartupReady: () => void = () => {};
  #onStartupFailure: (error: Error) => void = () => {};

  adminAddress(): BoundAddress | null {
    return this.#admin?.address() ?? null;
  }

  #fork(slot: Slot): void {
    slot.restartTimer = null;
    const worker = cluster.fork({ PORTICO_WORKER: String(slot.index + 1) });
    slot.worker = worker;
    slot.ready = false;
    worker.on("message", (message: unknown) => this.#onMessage(slot, worker, message));
    worker.on("exit", (code, signal) => this.#onExit(slot, worker, code, signal));
  }

  #onMessage(slot: Slot, worker: Worker, message: unknown): void {
    if (!isMessage(message)) return;
    if (message.portico === "ready") {
      if (slot.worker !== worker) return;
      slot.ready = true;
      if (this.#addresses.length === 0) this.#addresses = message.addresses;
      this.logger.info({ worker: slot.index + 1, pid: worker.process.pid }, `worker ${slot.index + 1} listening`);
      if (this.#starting) this.#onStartupReady();
      return;
    }
    if (message.portico === "failed") {
      if (this.#starting) {
        this.#onStartupFailure(new Error([message.message, ...(message.issues ?? [])].join("\n")));
      } else this.logger.error({ worker: slot.index + 1, issues: message.issues }, `worker ${slot.index + 1} cannot start: ${message.message}`);
      return;
    }
    if (message.portico === "answer") {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error) pending.reject(new PorticoError((message.error.code ?? "PTC_ERR_ADMIN_FAILED") as "PTC_ERR_ADMIN_FAILED", message.error.message));
      else pending.resolve(message.value);
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    for (const [id, pending] of this.#pending) {
      if (pending.worker !== worker) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new Error(`worker ${slot.index + 1} exited`));
    }
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    if (this.#stopping) return;
    if (this.#starting) {
      this.#onStartupFailure(new Error(`worker ${slot.index + 1} exited while starting (${signal ?? `code ${code}`})`));
      return;
    }
    const now = Date.now();
    slot.crashes = [...slot.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    if (slot.crashes.length >= CRASH_LIMIT) {
      slot.gaveUp = true;
      this.logger.fatal(
        { code: "PTC_ERR_WORKER_CRASH_LOOP", worker: slot.index + 1, pid: worker.process.pid, exitCode: code, signal },
        `worker ${slot.index + 1} exited ${slot.crashes.length} times within ${CRASH_WINDOW_MS / 1000}s: not restarting it`,
      );
      if (this.#slots.every((s) => s.gaveUp || (s.worker === null && s.restartTimer === null))) {
        this.logger.fatal("no worker left: stopping");
        void this.stop("crash loop", 1);
      }
      return;
    }
    const delay = restartDelay(slot.crashes.length);
    this.logger.error(
      { code: "PTC_ERR_WORKER_EXITED", worker: slot.index + 1, pid: worker.process.pid, exitCode: code, signal, restartInMs: delay },
      `worker ${slot.index + 1} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}): starting a new one${delay > 0 ? ` in ${delay} ms` : ""}`,
    );
    slot.restartTimer = setTimeout(() => {
      if (!this.#stopping) this.#fork(slot);
    }, delay);
  }

  #readyWorkers(): Worker[] {
    return this.#slots.flatMap((slot) => (slot.ready && slot.worker?.isConnected() ? [slot.worker] : []));
  }

  #ask(worker: Worker, what: Question, args?: unknown): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`worker pid ${worker.process.pid} did not answer "${what}" within ${ASK_TIMEOUT_MS / 1000}s`));
      }, ASK_TIMEOUT_MS);
      this.#pending.set(id, { worker, resolve, reject, timer });
      worker.send({ portico: "ask", id, what, args } satisfies Message);
    });
  }

  /** Asks every ready worker; a worker that exits meanwhile is left out. */
  async #askAll(what: Question, args?: unknown): Promise<unknown[]> {
    const results = await Promise.allSettled(this.#readyWorkers().map((worker) => this.#ask(worker, what, args)));
    const values: unknown[] = [];
    for (const result of results) {
      if (result.status === "fulfilled") values.push(result.value);
      else if (result.reason instanceof PorticoError) throw result.reason;
    }
    return values;
  }

  async #reloadAll(): Promise<{ warnings: ConfigIssue[] }> {
    // Validated here first: a config that does not validate never reaches a worker.
    const checked = await checkConfig(this.#file);
    const workers = this.#readyWorkers();
    const results = await Promise.allSettled(workers.map((worker) => this.#ask(worker, "reload")));
    const failures: string[] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        const value = result.value as { ok: boolean; issues?: string[] };
        if (!value.ok) failures.push(`worker pid ${workers[i]?.process.pid}: ${(value.issues ?? []).join("; ")}`);
      } else failures.push(`worker pid ${workers[i]?.process.pid}: ${(result.reason as Error).message}`);
    });
    // What workers run now is what the admin API shows and what is watched, even when one failed.
    this.#table = checked.table;
    this.#config = checked.config;
    this.#applyErrorLog(process.env);
    await this.#syncAdmin().catch((error: unknown) =>
      this.logger.error({ code: "PTC_ERR_ADMIN_FAILED", err: error }, `the admin listener cannot follow the new config: ${(error as Error).message}`),
    );
    await this.#watcher?.set(watchedFiles(checked.table));
    if (failures.length > 0) {
      this.logger.error({ code: "PTC_ERR_WORKER_RELOAD_FAILED", failures }, `${failures.length} of ${workers.length} workers could not reload`);
      throw new Error(`${failures.length} of ${workers.length} workers could not reload: ${failures.join(" | ")}`);
    }
    return { warnings: checked.warnings };
  }

  /** SIGHUP and watch: reload every worker, logged and counted. */
  reloadAndReport(source: ReloadSource): Promise<boolean> {
    return reloadAndReport(this.logger, this.#file, source, () => this.reload());
  }

  /** SIGUSR1: the primary's log file and every worker's are reopened. */
  reopenLogs(): void {
    this.observability.reopen();
    for (const slot of this.#slots) if (slot.worker?.isConnected()) slot.worker.send({ portico: "reopen" } satisfies Message);
  }

  async #syncAdmin(): Promise<void> {
    const current = this.#admin;
    this.#admin = null;
    this.#admin = await syncAdminServer(current, this, adminSettings(this.#config, this.#table.source.baseDir));
  }

  /** Tells every worker to stop; after `timeout` (+ a grace) those still running are killed. */
  async #stopWorkers(timeout: number): Promise<void> {
    const running: Array<Promise<void>> = [];
    for (const slot of this.#slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      const worker = slot.worker;
      if (!worker || worker.isDead()) continue;
      running.push(
        new Promise<void>((resolve) => {
          worker.once("exit", () => resolve());
          if (worker.isConnected()) worker.send({ portico: "stop" } satisfies Message);
          else worker.process.kill("SIGTERM");
          const timer = setTimeout(() => worker.process.kill("SIGKILL"), timeout + 2000);
          timer.unref();
        }),
      );
    }
    await Promise.all(running);
  }

  /** Graceful stop of every worker within shutdownTimeout, then of the primary. */
  async stop(signal: string, code = 0): Promise<number> {
    if (this.#stopping) return code;
    this.#stopping = true;
    this.logger.info({ signal }, "stopping: finishing requests in flight");
    this.#watcher?.close();
    await this.#stopWorkers(this.#table.server.shutdownTimeout);
    await this.#admin?.close();
    this.#admin = null;
    this.#metrics?.close();
    this.logger.info("stopped");
    await this.observability.flush();
    await this.observability.close();
    this.#done(code);
    return code;
  }

  /** A second signal: kill the workers and leave at once. */
  kill(): void {
    for (const slot of this.#slots) slot.worker?.process.kill("SIGKILL");
  }
}
