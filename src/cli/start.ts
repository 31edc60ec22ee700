/**
 * `portico start`: serve in the foreground. SIGHUP reloads the file (a bad one is refused and the
 * old config keeps serving); SIGTERM/SIGINT stop accepting, finish requests in flight, and exit.
 */
import { ConfigError, formatIssue } from "../errors.js";
import { createGateway, type Gateway } from "../gateway.js";
import { printConfigError } from "./output.js";

export async function start(file: string): Promise<number> {
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

  let reloading = Promise.resolve();
  process.on("SIGHUP", () => {
    reloading = reloading.then(async () => {
      try {
        const { warnings } = await gateway.reload();
        for (const warning of warnings) logger.warn(formatIssue(warning));
        logger.info({ config: file }, "configuration reloaded");
      } catch (error) {
        const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : [(error as Error).message];
        logger.error({ config: file, issues }, `reload refused, the running configuration stays:\n${issues.join("\n")}`);
      }
    });
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, "stopping: finishing requests in flight");
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
