/**
 * The config's `admin` block read into the admin listener's settings: used by the listener
 * (src/server/admin.ts), by its API, and by commands that call that API (`portico cache purge`).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { LISTEN_PATTERN } from "./schema.js";
import type { ValidatedConfig } from "./types.js";

export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:9180";

export interface AdminSettings {
  host: string;
  port: number;
  /** The bearer token, or null when none is required (loopback without one). */
  token: string | null;
  allowWrites: boolean;
  dashboard: boolean;
}

/** `admin` from the config; null when there is no admin listener. Reads tokenFile. */
export function adminSettings(config: Pick<ValidatedConfig, "admin">, baseDir: string): AdminSettings | null {
  const admin = config.admin;
  if (admin === undefined) return null;
  const listen = admin.listen ?? DEFAULT_ADMIN_LISTEN;
  let host = "127.0.0.1";
  let port: number;
  if (typeof listen === "number") port = listen;
  else {
    const match = LISTEN_PATTERN.exec(listen);
    port = Number(match?.[2] ?? 9180);
    if (match?.[1] !== undefined && match[1] !== "*") host = match[1].replace(/^\[(.*)\]$/, "$1");
    else if (match?.[1] === "*") host = "0.0.0.0";
  }
  let token: string | null = admin.token ?? null;
  if (admin.tokenFile !== undefined) token = readFileSync(path.resolve(baseDir, admin.tokenFile), "utf8").trim();
  return { host, port, token, allowWrites: admin.allowWrites === true, dashboard: admin.dashboard !== false };
}

/** The URL a client on this machine reaches the admin listener at (`0.0.0.0` as loopback, IPv6 bracketed). */
export function adminClientUrl(settings: Pick<AdminSettings, "host" | "port">): string {
  const host = settings.host === "0.0.0.0" ? "127.0.0.1" : settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  return `http://${host}:${settings.port}`;
}
