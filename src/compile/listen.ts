/** `listen`: a port, "host:port", "[::1]:port", `{ addr, port, ssl }` (NixOS), or a list of them. */
import type { FieldPath } from "../config/source.js";
import type { ValidatedConfig } from "../config/types.js";
import type { ListenAddress } from "./plan.js";
import type { Report } from "./report.js";

const DEFAULT_LISTEN = 8080;

export function compileListen(config: ValidatedConfig, report: Report): ListenAddress[] {
  const listen: ListenAddress[] = [];
  const value = config.listen ?? DEFAULT_LISTEN;
  const entries: unknown[] = Array.isArray(value) ? value : [value];
  entries.forEach((entry, index) => {
    const parsed = parseListen(entry);
    if (typeof parsed === "string") report.error(Array.isArray(value) ? ["listen", index] : ["listen"], parsed);
    else listen.push(parsed);
  });
  return listen;
}

/** The field of one compiled listen address, for messages about it. */
export function listenField(config: ValidatedConfig, listen: readonly ListenAddress[], address: ListenAddress): FieldPath {
  return Array.isArray(config.listen) ? ["listen", listen.indexOf(address)] : ["listen"];
}

function parseListen(entry: unknown): ListenAddress | string {
  if (typeof entry === "number") return { host: undefined, port: entry, ssl: false };
  if (typeof entry === "object" && entry !== null) {
    const { addr, port, ssl } = entry as { addr?: string; port: number; ssl?: boolean };
    return { host: addr && addr !== "*" ? addr.replace(/^\[(.*)\]$/, "$1") : undefined, port, ssl: ssl === true };
  }
  const text = String(entry).trim();
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+|\*):)?(\d{1,5})$/.exec(text);
  if (!match) return `expected a port, "host:port" or "[::1]:port", got ${JSON.stringify(text)}`;
  const port = Number(match[2]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = match[1] === undefined || match[1] === "*" ? undefined : match[1].replace(/^\[(.*)\]$/, "$1");
  return { host, port, ssl: false };
}
