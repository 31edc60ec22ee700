/**
 * A plugin is a descriptor plus phase functions (as in APISIX): `definePlugin({ name, priority,
 * schema, access(ctx, conf) { … } })`. Higher priority runs first within a phase. The config's own
 * location hooks run at LOCATION_HOOK_PRIORITY, after every plugin of that phase.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { z } from "zod";
import { PorticoError } from "../errors.js";
import { type BodyFilterContext, type HeaderFilterContext, type HookResult, type LogContext, PHASES, type Phase, type RequestPhaseContext } from "./context.js";

/** Priority of a location's own hooks (`access: ./x.js`): after all plugins, which have priority > 0. */
export const LOCATION_HOOK_PRIORITY = 0;

/** What a plugin's `init` gets besides its config: the gateway's shared services. */
export interface PluginEnv {
  /** The gateway's logger, bound to this plugin. */
  readonly logger: Logger;
  /** The folder of the config file: relative paths in a plugin's config are relative to it. */
  readonly configDir: string;
  /** The whole validated config (for top-level sections such as `consumers` and `redis`). */
  // biome-ignore lint/suspicious/noExplicitAny: the validated config's shape depends on the plugin set
  readonly config: Record<string, any>;
  /** The client for the config's top-level `redis`, or null when the config names none. */
  redis(): Redis | null;
  /**
   * State kept across reloads: the same `id` (unique within this plugin) gives back the same object
   * after a reload; an object the new config no longer takes is closed (its `close()`, if any).
   */
  keep<T>(id: string, create: () => T): T;
  /** Reads a file named in the config (a secret, an htpasswd, a key), relative to configDir; it becomes a reload trigger. */
  readFile(path: string): Promise<Buffer>;
}

export type PluginHook<C, X = RequestPhaseContext> = (ctx: X, conf: C) => HookResult | Promise<HookResult>;

export interface PluginDefinition<S extends z.ZodType = z.ZodType, C = z.output<S>> {
  /** camelCase config key, e.g. `keyAuth`. */
  name: string;
  /** Unique; higher runs first. */
  priority: number;
  description?: string;
  schema: S;
  /** Turns the validated config into what the hooks use (compile regexes, open stores): once per load. */
  init?: (conf: z.output<S>, env: PluginEnv) => C | Promise<C>;
  rewrite?: PluginHook<C>;
  /** Where limits run (nginx limit_req, limit_conn): after rewrite, before authentication. */
  preaccess?: PluginHook<C>;
  access?: PluginHook<C>;
  content?: PluginHook<C>;
  headerFilter?: PluginHook<C, HeaderFilterContext>;
  bodyFilter?: PluginHook<C, BodyFilterContext>;
  log?: PluginHook<C, LogContext>;
  /**
   * Whether this instance runs its hook of `phase` (default: every hook it has). Decided once per
   * location at load, so that a hook the config makes pointless costs nothing per request.
   */
  usesPhase?: (phase: Phase, instance: C) => boolean;
  /** Releases one instance (what `init` returned) when its config is retired. */
  close?: (instance: C) => void | Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds plugins of every config type
export type AnyPlugin = PluginDefinition<z.ZodType, any>;

const KNOWN_KEYS = new Set(["name", "priority", "description", "schema", "init", "usesPhase", "close", ...PHASES]);
const RESERVED_NAMES = new Set([
  "return",
  "proxyPass",
  "proxySetHeader",
  "addHeader",
  "defaultType",
  "locations",
  "listen",
  "virtualHosts",
  "upstreams",
  "vars",
  ...PHASES,
]);

/** Typing helper; also checks the definition so that a typo fails at start, not under traffic. */
export function definePlugin<S extends z.ZodType, C = z.output<S>>(plugin: PluginDefinition<S, C>): PluginDefinition<S, C> {
  const fail = (why: string): never => {
    throw new PorticoError("PTC_ERR_PLUGIN_DEFINE", `plugin ${JSON.stringify(plugin?.name)}: ${why}`);
  };
  if (typeof plugin.name !== "string" || !/^[a-z][A-Za-z0-9]*$/.test(plugin.name)) fail("name must be camelCase, e.g. keyAuth");
  if (RESERVED_NAMES.has(plugin.name)) fail("name is a core config key");
  if (!Number.isInteger(plugin.priority) || plugin.priority <= LOCATION_HOOK_PRIORITY) fail("priority must be an integer above 0");
  if (typeof plugin.schema?.safeParse !== "function") fail("schema must be a zod schema");
  for (const key of Object.keys(plugin)) {
    if (!KNOWN_KEYS.has(key)) fail(`unknown field "${key}" (expected one of ${[...KNOWN_KEYS].join(", ")})`);
  }
  for (const phase of PHASES) {
    const hook = (plugin as unknown as Record<string, unknown>)[phase];
    if (hook !== undefined && typeof hook !== "function") fail(`${phase} must be a function`);
  }
  return plugin;
}

/** Rejects two plugins with one name or one priority: their order would be ambiguous. */
export function checkPluginSet(plugins: readonly AnyPlugin[]): void {
  const names = new Map<string, AnyPlugin>();
  const priorities = new Map<number, AnyPlugin>();
  for (const plugin of plugins) {
    if (names.has(plugin.name)) throw new PorticoError("PTC_ERR_PLUGIN_DEFINE", `two plugins are named ${plugin.name}`);
    const other = priorities.get(plugin.priority);
    if (other) throw new PorticoError("PTC_ERR_PLUGIN_DEFINE", `plugins ${other.name} and ${plugin.name} share priority ${plugin.priority}`);
    names.set(plugin.name, plugin);
    priorities.set(plugin.priority, plugin);
  }
}

export type { Phase };
