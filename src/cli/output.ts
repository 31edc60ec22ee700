import { ConfigError, formatIssue } from "../errors.js";

/** Prints a config error's issues as `FILE:LINE:COL  path  message`, one a line. */
export function printConfigError(error: unknown): void {
  if (error instanceof ConfigError) {
    for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
  } else {
    process.stderr.write(`portico: ${(error as Error)?.message ?? String(error)}\n`);
  }
}
