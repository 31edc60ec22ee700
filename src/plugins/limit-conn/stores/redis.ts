/**
 * limitConn in Redis: a counter per key, taken and given back by scripts. Each take pushes the
 * key's expiry `ttl` ahead, so that the slots of an instance that crashed mid-request free up.
 */
import type { Redis } from "ioredis";
import { redisScript, type ScriptCall } from "../../../limits/redis-script.js";
import type { ConnStore } from "./types.js";

const ACQUIRE = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then
  if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
  return 0
end
return 1
`;
const RELEASE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
`;

export class RedisConnStore implements ConnStore {
  readonly #prefix: string;
  readonly #conn: number;
  readonly #ttl: number;
  readonly #acquire: ScriptCall;
  readonly #release: ScriptCall;

  constructor(client: Redis, conn: number, ttlMs: number, id: string) {
    this.#prefix = `limitConn:${id}:`;
    this.#conn = conn;
    this.#ttl = Math.max(1, Math.round(ttlMs));
    this.#acquire = redisScript(client, "porticoLimitConnAcquire", ACQUIRE);
    this.#release = redisScript(client, "porticoLimitConnRelease", RELEASE);
  }

  async acquire(key: string): Promise<boolean> {
    return (await this.#acquire(1, `${this.#prefix}${key}`, this.#conn, this.#ttl)) === 1;
  }

  async release(key: string): Promise<void> {
    await this.#release(1, `${this.#prefix}${key}`);
  }
}
