/**
 * The command's entry when run from source (`node --import tsx src/cli/run.ts …`), as
 * bin/portico.js is for the build: the CLI tests spawn this so that they exercise the current
 * source without a build step.
 */
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
