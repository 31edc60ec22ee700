/**
 * The client address, as nginx's realip module: when the peer of the socket is a trusted proxy
 * (set_real_ip_from), the address comes from a header (real_ip_header, X-Forwarded-For by
 * default), read from the right and, with real_ip_recursive, past every trusted hop. Compiled at
 * load into one function; without trustedProxies it is the socket's peer and costs nothing more.
 */
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { compileCidrs } from "./cidr.js";

export type ClientAddress = (req: IncomingMessage) => string;

export interface ClientAddressOptions {
  /** CIDRs whose X-Forwarded-For (or realIpHeader) is believed. */
  trustedProxies?: readonly string[] | undefined;
  /** Header carrying the client address (default X-Forwarded-For). */
  realIpHeader?: string | undefined;
  /** Skip every trusted address from the right, not just the peer (default true). */
  realIpRecursive?: boolean | undefined;
}

/** The socket's peer: the client address when no proxy is trusted. */
export const socketAddress: ClientAddress = (req) => req.socket.remoteAddress ?? "";

/** Compiles the realip settings; throws on a bad CIDR. */
export function createClientAddress(options: ClientAddressOptions): ClientAddress {
  const list = options.trustedProxies ?? [];
  if (list.length === 0) return socketAddress;
  const trusted = compileCidrs(list);
  const header = (options.realIpHeader ?? "X-Forwarded-For").toLowerCase();
  const recursive = options.realIpRecursive ?? true;
  return function clientAddress(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? "";
    if (!trusted(peer)) return peer;
    const value = req.headers[header];
    if (value === undefined) return peer;
    // Repeated headers count as one list, in order (RFC 9110 5.3).
    const joined = Array.isArray(value) ? value.join(",") : value;
    let end = joined.length;
    let found = peer;
    while (end > 0) {
      const comma = joined.lastIndexOf(",", end - 1);
      const entry = stripPort(joined.slice(comma + 1, end).trim());
      end = Math.max(comma, 0);
      if (entry === "") continue;
      // nginx: an entry that is not an address stops the walk, keeping what was found so far.
      if (isIP(entry) === 0) return found;
      found = entry;
      if (!recursive || !trusted(entry)) return entry;
    }
    return found;
  };
}

/** "1.2.3.4:5678" and "[::1]:5678" (as some proxies write them) lose their port. */
function stripPort(entry: string): string {
  if (entry.charCodeAt(0) === 91 /* [ */) {
    const close = entry.indexOf("]");
    return close > 0 ? entry.slice(1, close) : entry;
  }
  const colon = entry.indexOf(":");
  return colon > 0 && entry.indexOf(":", colon + 1) < 0 ? entry.slice(0, colon) : entry;
}
