/**
 * Redis (or Valkey) connections, one per URL, owned by the gateway so that they outlive a reload.
 * Plugins reach the config's `redis` through `env.redis()`; nothing connects unless a plugin asks.
 */
import { Redis } from "ioredis";
import type { Logger } from "pino";

export interface RedisSettings {
  url: string;
  /** Prefix for every key Portico writes, so that several gateways can share one Redis. */
  keyPrefix?: string | undefined;
  /** Longest wait for a connection or a command before it counts as a failure, in ms. */
  timeout?: number | undefined;
}

export class RedisConnections {
  readonly #clients = new Map<string, Redis>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** The shared client for these settings; created on first use. */
  get(settings: RedisSettings): Redis {
    const key = `${settings.url}\u0000${settings.keyPrefix ?? ""}\u0000${settings.timeout ?? ""}`;
    let client = this.#clients.get(key);
    if (client) return client;
    const timeout = settings.timeout ?? 1000;
    client = new Redis(settings.url, {
      keyPrefix: settings.keyPrefix ?? "portico:",
      // Fail fast while Redis is away (each plugin decides to fail open or closed), and keep
      // reconnecting in the background so that it recovers without a restart.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeout,
      commandTimeout: timeout,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      lazyConnect: false,
    });
    let down = false;
    client.on("error", (error: Error) => {
      if (down) return;
      down = true;
      this.#logger.error({ code: "PTC_ERR_REDIS_UNAVAILABLE", url: redactUrl(settings.url), err: error.message }, "redis unavailable");
    });
    client.on("ready", () => {
      if (!down) return;
      down = false;
      this.#logger.info({ url: redactUrl(settings.url) }, "redis reconnected");
    });
    this.#clients.set(key, client);
    return client;
  }

  async closeAll(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
  }
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
