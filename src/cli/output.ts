import path from "node:path";
import { ConfigError, type ConfigIssue, formatIssue } from "../errors.js";

/**
 * `FILE:LINE:COL  path  message`, with FILE written as the user gave it on the command line (as
 * the "is valid" line does), so that `-c portico.yaml` prints `portico.yaml:3:9  …`.
 */
export function formatForCli(issue: ConfigIssue, given?: string): string {
  const file = given !== undefined && issue.file === path.resolve(given) ? given : issue.file;
  return formatIssue({ ...issue, file });
}

/** Prints a config error's issues, one a line, on stderr; anything else as one line too. */
export function printConfigError(error: unknown, given?: string): void {
  if (error instanceof ConfigError) {
    for (const issue of error.issues) process.stderr.write(`${formatForCli(issue, given)}\n`);
  } else {
    process.stderr.write(`portico: ${(error as Error)?.message ?? String(error)}\n`);
  }
}
