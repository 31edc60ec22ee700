/**
 * `portico start`: serve in the foreground. SIGHUP reloads the file (a bad one is refused and the
 * old config keeps serving); SIGUSR1 reopens the log files; SIGTERM/SIGINT stop accepting, finish requests in flight, and exit.
 */
import { readConfigSource } from "../config/source.js";
import { validateConfig } from "../config/validate.js";
import { formatIssue } from "../errors.js";
import { type BoundAddress, checkConfig, createGateway, type Gateway } from "../gateway.js";
import { BUILTIN_PLUGINS } from "../plugins/index.js";
import { FileWatcher } from "../server/watch.js";
import { Primary, reloadAndReport, watchedFiles, workerCount } from "../server/workers.js";
import { printConfigError } from "./output.js";

export async function start(file: string): Promise<number> {
  // `workers` decides the shape: one process (below), or a primary and its workers.
  let count: number;
  try {
    count = workerCount(validateConfig(await readConfigSource(file), BUILTIN_PLUGINS).config.workers);
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  if (count > 1) return startWorkers(file, count);
  let gateway: Gateway;
  try {
    gateway = await createGateway(file);
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  const { logger } = gateway;
  try {
    const addresses = await gateway.listen();
    logger.info(
      { addresses: addresses.map((a) => a.url), config: gateway.table.source.file, pid: process.pid },
      `portico listening on ${addresses.map((a) => a.url).join(", ")}`,
    );
  } catch (error) {
    logger.fatal({ err: error }, `cannot listen: ${(error as Error).message}`);
    await gateway.close();
    return 1;
  }

  // nginx: SIGUSR1 reopens the log files, after logrotate has moved them.
  process.on("SIGUSR1", () => {
    gateway.reopenLogs();
    logger.info("log files reopened");
  });
  const admin = gateway.adminAddress();
  if (admin) logger.info({ admin: admin.url }, `admin listener on ${admin.url}`);

  let reloading = Promise.resolve();
  let watcher: FileWatcher | null = null;
  const reload = (source: "signal" | "watch") => {
    reloading = reloading.then(async () => {
      if (await reloadAndReport(logger, file, source, () => gateway.reload())) await watcher?.set(watchedFiles(gateway.table));
    });
  };
  process.on("SIGHUP", () => reload("signal"));
  if (gateway.config.watch === true) {
    watcher = new FileWatcher(logger, (changed) => {
      logger.info({ changed }, "a watched file changed: reloading");
      reload("watch");
    });
    await watcher.set(watchedFiles(gateway.table));
    // From this line on, a change of any of these files reloads (before it, one could go unseen).
    logger.info({ files: watcher.files }, `watching ${watcher.files.length} files for changes`);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, "stopping: finishing requests in flight");
      watcher?.close();
      gateway.close().then(
        () => {
          logger.info("stopped");
          logger.flush?.();
          resolve(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, "error while stopping");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

/** `workers` above 1: this process becomes the primary (src/server/workers.ts) of `count` workers. */
async function startWorkers(file: string, count: number): Promise<number> {
  let checked: Awaited<ReturnType<typeof checkConfig>>;
  try {
    checked = await checkConfig(file);
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  const primary = new Primary(file, count, checked);
  const { logger } = primary;
  for (const warning of checked.warnings) logger.warn(formatIssue(warning));
  let addresses: BoundAddress[];
  try {
    addresses = await primary.start();
  } catch (error) {
    logger.fatal({ err: error }, `cannot start the workers: ${(error as Error).message}`);
    await primary.stop("start failed", 1);
    return 1;
  }
  logger.info(
    { addresses: addresses.map((a) => a.url), config: checked.table.source.file, pid: process.pid, workers: count },
    `portico listening on ${addresses.map((a) => a.url).join(", ")}`,
  );
  const admin = primary.adminAddress();
  if (admin) logger.info({ admin: admin.url }, `admin listener on ${admin.url}`);
  process.on("SIGHUP", () => void primary.reloadAndReport("signal"));
  process.on("SIGUSR1", () => {
    primary.reopenLogs();
    logger.info("log files reopened");
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      primary.kill();
      process.exit(1);
    }
    stopping = true;
    void primary.stop(signal);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  return primary.finished;
}
