/**
 * The compile steps' issue collector: every error and warning found, each with the file, line and
 * column of its field, so that one run reports them all (ConfigError PTC_ERR_CONFIG_INVALID).
 */
import { type ConfigSource, type FieldPath, formatPath } from "../config/source.js";
import { ConfigError, type ConfigIssue } from "../errors.js";

/** Where an issue points: at the field's value (default) or at its key (a location key, a virtual host name). */
export type IssueAt = "key" | "value";

export class Report {
  readonly source: ConfigSource;
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  constructor(source: ConfigSource) {
    this.source = source;
  }

  error(field: FieldPath, message: string, at: IssueAt = "value"): void {
    this.errors.push(this.#issue("error", field, message, at));
  }

  warn(field: FieldPath, message: string, at: IssueAt = "value"): void {
    this.warnings.push(this.#issue("warning", field, message, at));
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  /** Errors and warnings together, by position: what a config that cannot be used throws. */
  toError(): ConfigError {
    return new ConfigError("PTC_ERR_CONFIG_INVALID", [...this.errors, ...this.warnings].sort(byPosition));
  }

  /** The warnings of a config that compiled, by position. */
  sortedWarnings(): ConfigIssue[] {
    return this.warnings.sort(byPosition);
  }

  #issue(severity: ConfigIssue["severity"], field: FieldPath, message: string, at: IssueAt): ConfigIssue {
    return { file: this.source.file, ...this.source.locate(field, at), path: formatPath(field), message, severity };
  }
}

const byPosition = (a: ConfigIssue, b: ConfigIssue): number => a.line - b.line || a.column - b.column;
