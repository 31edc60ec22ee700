/**
 * Every error Portico reports has a stable code, grouped by area, documented in docs/errors.md
 * (a test keeps the two in step). Request-time errors answer the client with `status` and a short
 * generic message; the detail goes to the log with the request id.
 */
export const ERRORS = {
  PTC_ERR_CONFIG_READ: { status: 0, message: "the config file cannot be read" },
  PTC_ERR_CONFIG_PARSE: { status: 0, message: "the config file is not valid YAML, JSON or JavaScript" },
  PTC_ERR_CONFIG_INVALID: { status: 0, message: "the config does not validate" },
  PTC_ERR_CONFIG_ENV: { status: 0, message: "an environment variable the config names is not set" },
  PTC_ERR_PLUGIN_DEFINE: { status: 0, message: "a plugin definition is invalid" },
  PTC_ERR_IMPORT_PARSE: { status: 0, message: "the nginx config cannot be read" },
  PTC_ERR_REQUEST_BAD_PATH: { status: 400, message: "Bad Request" },
  PTC_ERR_REQUEST_BAD_HOST: { status: 400, message: "Bad Request" },
  PTC_ERR_REQUEST_MALFORMED: { status: 400, message: "Bad Request" },
  PTC_ERR_REQUEST_HEADERS_TOO_LARGE: { status: 431, message: "Request Header Fields Too Large" },
  PTC_ERR_REQUEST_BODY_TOO_LARGE: { status: 413, message: "Content Too Large" },
  PTC_ERR_HOOK_FAILED: { status: 500, message: "Internal Server Error" },
  PTC_ERR_ACCESS_IP_DENIED: { status: 403, message: "Your IP address is not allowed" },
  PTC_ERR_LIMIT_EXCEEDED: { status: 429, message: "API rate limit exceeded" },
  PTC_ERR_LIMIT_STORE_FAILED: { status: 503, message: "Service Unavailable" },
  PTC_ERR_CACHE_STORE_FAILED: { status: 0, message: "the cache's Redis failed: requests go upstream" },
  PTC_ERR_AUTH_OIDC_UNAUTHENTICATED: { status: 401, message: "Unauthorized" },
  PTC_ERR_AUTH_OIDC_TOKEN_INVALID: { status: 401, message: "Unauthorized" },
  PTC_ERR_AUTH_OIDC_CALLBACK_FAILED: { status: 401, message: "Unauthorized" },
  PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE: { status: 502, message: "Bad Gateway" },
  PTC_ERR_AUTH_MISSING: { status: 401, message: "Unauthorized" },
  PTC_ERR_AUTH_INVALID: { status: 401, message: "Unauthorized" },
  PTC_ERR_AUTH_FORBIDDEN: { status: 403, message: "Forbidden" },
  PTC_ERR_AUTH_JWKS_UNAVAILABLE: { status: 502, message: "Bad Gateway" },
  PTC_ERR_UPSTREAM_UNAVAILABLE: { status: 502, message: "Bad Gateway" },
  PTC_ERR_UPSTREAM_TIMEOUT: { status: 504, message: "Gateway Timeout" },
  PTC_ERR_UPSTREAM_TLS: { status: 502, message: "Bad Gateway" },
  PTC_ERR_ADMIN_UNAUTHORIZED: { status: 401, message: "Unauthorized" },
  PTC_ERR_ADMIN_READ_ONLY: { status: 403, message: "the admin API is read-only: set admin.allowWrites to change things" },
  PTC_ERR_ADMIN_NOT_FOUND: { status: 404, message: "Not Found" },
  PTC_ERR_ADMIN_BAD_REQUEST: { status: 400, message: "Bad Request" },
  PTC_ERR_ADMIN_UNSUPPORTED: { status: 501, message: "Not Implemented" },
  PTC_ERR_ADMIN_FAILED: { status: 500, message: "Internal Server Error" },
  PTC_ERR_WORKER_EXITED: { status: 0, message: "a worker process exited unexpectedly and is restarted" },
  PTC_ERR_WORKER_CRASH_LOOP: { status: 0, message: "a worker kept crashing: the primary stopped restarting it" },
  PTC_ERR_WORKER_RELOAD_FAILED: { status: 0, message: "a worker could not load a config the primary had validated" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Base class: `switch (err.code)` narrows on the union of codes. */
export class PorticoError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.name = "PorticoError";
  }
}

/** One problem in a config, with where it is: `FILE:LINE:COL  path.to.field  message`. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the field, e.g. `virtualHosts.localhost.locations./.return`. */
  path: string;
  message: string;
  severity: "error" | "warning";
}

/** `FILE:LINE:COL  path  message`; without a position (a config object has none) `FILE  path  message`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const prefix = issue.severity === "warning" ? "warning: " : "";
  return `${where}  ${issue.path || "(root)"}  ${prefix}${issue.message}`;
}

/** A config that cannot be used; `issues` lists every error found, not only the first. */
export class ConfigError extends PorticoError {
  readonly issues: ConfigIssue[];
  constructor(code: ErrorCode, issues: ConfigIssue[]) {
    super(code, issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}
