/**
 * Plugin instances of one compile: one `init` per distinct config object (the locations that
 * inherit a plugin's config share its instance), each with its PluginEnv; closed together when the
 * plan is retired, or at once when the config fails.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { ConfigSource, FieldPath } from "../config/source.js";
import type { ValidatedConfig } from "../config/types.js";
import { parseTime } from "../config/units.js";
import type { AnyPlugin, PluginEnv } from "../lifecycle/plugin.js";
import type { RedisConnections } from "../state/redis.js";
import type { SharedState } from "../state/shared-state.js";
import type { Report } from "./report.js";

export interface PluginServices {
  source: ConfigSource;
  logger: Logger;
  shared: SharedState;
  redis: RedisConnections;
  /** Files read through env.readFile become reload triggers. */
  files: Set<string>;
}

export class PluginInstances {
  readonly #config: ValidatedConfig;
  readonly #services: PluginServices;
  readonly #report: Report;
  readonly #instances = new Map<object, { plugin: AnyPlugin; instance: unknown }>();

  constructor(config: ValidatedConfig, services: PluginServices, report: Report) {
    this.#config = config;
    this.#services = services;
    this.#report = report;
  }

  /** The instance for this config object: made by the plugin's init the first time, shared after; null when init refused it (reported at `field`). */
  async instanceFor(plugin: AnyPlugin, conf: unknown, field: FieldPath): Promise<{ instance: unknown } | null> {
    const key = conf as object;
    const known = this.#instances.get(key);
    if (known !== undefined) return known;
    try {
      const instance = plugin.init ? await plugin.init(conf, this.#envFor(plugin)) : conf;
      const made = { plugin, instance };
      this.#instances.set(key, made);
      return made;
    } catch (err) {
      this.#report.error(field, `plugin ${plugin.name} refused its config: ${(err as Error).message}`);
      return null;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#instances.values()].map(({ plugin, instance }) => plugin.close?.(instance)));
  }

  #envFor(plugin: AnyPlugin): PluginEnv {
    const config = this.#config;
    const { source, logger, shared, redis, files } = this.#services;
    return {
      logger: logger.child({ plugin: plugin.name }),
      configDir: source.baseDir,
      config,
      redis: () =>
        config.redis
          ? redis.get({
              url: config.redis.url,
              keyPrefix: config.redis.keyPrefix,
              timeout: config.redis.timeout === undefined ? undefined : parseTime(config.redis.timeout),
            })
          : null,
      keep: (id, create) => shared.take(`${plugin.name}:${id}`, create),
      readFile: (file) => {
        const absolute = path.resolve(source.baseDir, file);
        files.add(absolute);
        return readFile(absolute);
      },
    };
  }
}

/** Plugins in the order their hooks run within a phase: highest priority first. */
export function byPriority(plugins: readonly AnyPlugin[]): AnyPlugin[] {
  return [...plugins].sort((a, b) => b.priority - a.priority);
}
