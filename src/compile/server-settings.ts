/** The listeners' settings (header size, timeouts, log level) and the client address rule (trustedProxies). */
import type { ValidatedConfig } from "../config/types.js";
import { parseHeaderBuffers, parseTime } from "../config/units.js";
import { type ClientAddress, createClientAddress } from "../router/client-address.js";
import type { ServerSettings } from "./plan.js";

const SERVER_DEFAULTS = {
  largeClientHeaderBuffers: "4 8k",
  keepaliveTimeout: "75s",
  clientHeaderTimeout: "60s",
  shutdownTimeout: "10s",
} as const;

export function compileServerSettings(config: ValidatedConfig): ServerSettings {
  return {
    logLevel: config.logLevel,
    maxHeaderSize: parseHeaderBuffers(config.largeClientHeaderBuffers ?? SERVER_DEFAULTS.largeClientHeaderBuffers),
    keepAliveTimeout: parseTime(config.keepaliveTimeout ?? SERVER_DEFAULTS.keepaliveTimeout),
    headersTimeout: parseTime(config.clientHeaderTimeout ?? SERVER_DEFAULTS.clientHeaderTimeout),
    shutdownTimeout: parseTime(config.shutdownTimeout ?? SERVER_DEFAULTS.shutdownTimeout),
  };
}

/** nginx realip: validated CIDRs, compiled once; without trustedProxies, the socket's peer. */
export function compileClientAddress(config: ValidatedConfig): ClientAddress {
  return createClientAddress({
    trustedProxies: config.trustedProxies,
    realIpHeader: config.realIpHeader,
    realIpRecursive: config.realIpRecursive,
  });
}
