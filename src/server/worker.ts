/**
 * The worker side of `workers: auto | N` (the primary is src/server/workers.ts): a worker runs one
 * whole gateway, and the messages it exchanges with the primary over the cluster IPC channel,
 * `{ portico: KIND, … }` objects: ready/failed at start, ask/answer for reloads and the admin
 * API's metrics, stats, errors, upstreams and purges, reopen (SIGUSR1) and stop.
 */
import { ConfigError, formatIssue, type PorticoError } from "../errors.js";
import { type BoundAddress, createGateway, type Gateway } from "../gateway.js";

/** What the primary may ask a worker. */
export type Question = "reload" | "metrics" | "stats" | "errors" | "upstreams" | "purge";

/** A message either way over the IPC channel. */
export type Message =
  | { portico: "ready"; addresses: BoundAddress[] }
  | { portico: "failed"; message: string; issues?: string[] }
  | { portico: "answer"; id: number; value?: unknown; error?: { code?: string; message: string } }
  | { portico: "ask"; id: number; what: Question; args?: unknown }
  | { portico: "reopen" }
  | { portico: "stop" };

export function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && typeof (value as { portico?: unknown }).portico === "string";
}

/**
 * A worker: one gateway on the config file, its listeners shared through cluster. It obeys the
 * primary's messages; SIGTERM/SIGINT sent to it directly (a terminal's Ctrl-C reaches the whole
 * process group) stop it gracefully too, and it stops when the primary goes away.
 */
export async function runWorker(file: string): Promise<number> {
  const send = (message: Message) => {
    if (process.connected) process.send?.(message);
  };
  // The primary coordinates reloads: a SIGHUP sent to the whole group must not reload twice.
  process.on("SIGHUP", () => {});
  let gateway: Gateway;
  try {
    gateway = await createGateway(file, { adminListener: false });
  } catch (error) {
    const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : undefined;
    send({ portico: "failed", message: (error as Error).message, ...(issues ? { issues } : {}) });
    return 1;
  }
  const logger = gateway.logger.child({ worker: Number(process.env.PORTICO_WORKER ?? 0) });
  try {
    const addresses = await gateway.listen();
    send({ portico: "ready", addresses });
  } catch (error) {
    logger.fatal({ err: error }, `cannot listen: ${(error as Error).message}`);
    send({ portico: "failed", message: `cannot listen: ${(error as Error).message}` });
    await gateway.close();
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.debug({ why }, "worker stopping");
      gateway.close().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, "error while stopping");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGUSR1", () => gateway.reopenLogs());
    process.on("disconnect", () => stop("the primary is gone"));
    process.on("message", (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.portico === "stop") return stop("told by the primary");
      if (message.portico === "reopen") return gateway.reopenLogs();
      if (message.portico !== "ask") return;
      const { id, what, args } = message;
      answer(gateway, what, args).then(
        (value) => send({ portico: "answer", id, value }),
        (error: unknown) => send({ portico: "answer", id, error: { code: (error as PorticoError).code, message: (error as Error).message } }),
      );
    });
  });
}

async function answer(gateway: Gateway, what: Question, args: unknown): Promise<unknown> {
  switch (what) {
    case "reload":
      try {
        const { warnings } = await gateway.reload();
        return { ok: true, warnings: warnings.map(formatIssue) };
      } catch (error) {
        return { ok: false, issues: error instanceof ConfigError ? error.issues.map(formatIssue) : [(error as Error).message] };
      }
    case "metrics":
      return (await gateway.observability.metrics?.registry.getMetricsAsJSON()) ?? null;
    case "stats":
      return gateway.observability.stats.snapshot();
    case "errors":
      return gateway.observability.errorLog?.recent ?? [];
    case "upstreams":
      return gateway.upstreamStatus();
    case "purge":
      return gateway.purgeCache(args as Record<string, unknown>);
  }
}
