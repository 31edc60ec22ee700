/**
 * What a worker process runs (forked by the primary, src/server/workers.ts, with the config file
 * as its argument): one gateway, until the primary says stop.
 */
import { runWorker } from "./worker.js";

const code = await runWorker(process.argv[2] as string);
// The IPC channel to the primary would keep the process alive.
process.exit(code);
