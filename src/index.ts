/**
 * Portico's public API.
 *
 * @example
 * import { createGateway, defineConfig } from "portico";
 * const gw = await createGateway(defineConfig({ virtualHosts: { localhost: { default: true, locations: { "/": { return: "200 'Hello World!'" } } } } }));
 * const res = await gw.inject({ url: "/" }); // { status: 200, body: "Hello World!", … }
 */
import type { PorticoConfig } from "./config/schema.js";

export {
  configJsonSchema,
  type LocationConfig,
  type PluginConfigMap,
  type PorticoConfig,
  type UpstreamConfig,
  type VirtualHostConfig,
} from "./config/schema.js";
export { ConfigError, type ConfigIssue, ERRORS, type ErrorCode, formatIssue, PorticoError } from "./errors.js";
export {
  type BoundAddress,
  type ConfigInput,
  checkConfig,
  createGateway,
  Gateway,
  type GatewayOptions,
  type InjectOptions,
  type InjectResponse,
} from "./gateway.js";
export type {
  AccessHook,
  BaseContext,
  BodyFilterContext,
  BodyFilterHook,
  ContentHook,
  Context,
  Exit,
  HeaderFilterContext,
  HeaderFilterHook,
  HookFunction,
  LogContext,
  LogHook,
  Phase,
  RequestPhaseContext,
  RequestView,
  ResponseView,
  RewriteHook,
} from "./lifecycle/context.js";
export { definePlugin, type PluginDefinition } from "./lifecycle/plugin.js";
export type { LocationSummary, RouteExplanation } from "./server/route-table.js";

/** Typing helper for config modules: `export default defineConfig({ … })` gets completion and type errors. */
export function defineConfig(config: PorticoConfig): PorticoConfig {
  return config;
}
