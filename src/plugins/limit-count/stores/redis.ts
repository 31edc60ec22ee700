/**
 * limitCount in Redis: one script checks every limit of a request and counts it only if all allow
 * it, atomically, so that instances sharing the Redis admit together no more than the limit. Each
 * limit of a key is a hash { s: window start, c: count, p: previous window's count } that expires
 * two windows after its last write. Times come from Redis's clock.
 */
import type { Redis } from "ioredis";
import { LUA_NOW, redisScript, type ScriptCall } from "../../../limits/redis-script.js";
import type { CompiledLimit, CountStore, CountVerdict } from "./types.js";
import { slidingRetry } from "./types.js";

// KEYS[i]: the hash of limit i. ARGV: count, window (ms), sliding (0/1) for each limit.
// Returns { allowed, index of the limit reported, remaining, reset ms, elapsed, current, previous }.
const LUA = `${LUA_NOW}
local n = #KEYS
local allowed = 1
local report, remaining, reset = 1, -1, 0
local retry = -1
local rep_elapsed, rep_cur, rep_prev = 0, 0, 0
local starts, currents, previous = {}, {}, {}
for i = 1, n do
  local count = tonumber(ARGV[3 * i - 2])
  local w = tonumber(ARGV[3 * i - 1])
  local sliding = ARGV[3 * i] == '1'
  local start = now - (now % w)
  local v = redis.call('HMGET', KEYS[i], 's', 'c', 'p')
  local s, c, p = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if s ~= start then
    if s == start - w then p = c else p = 0 end
    c = 0
  end
  starts[i], currents[i], previous[i] = start, c, p
  local elapsed = now - start
  local used = c
  if sliding then used = p * (w - elapsed) / w + c end
  if used + 1 > count then
    local r = w - elapsed
    if allowed == 1 or r > retry then
      retry = r
      report, reset, rep_elapsed, rep_cur, rep_prev = i, w - elapsed, elapsed, c, p
    end
    allowed = 0
    remaining = 0
  elseif allowed == 1 then
    local left = math.floor(count - used - 1)
    if remaining < 0 or left < remaining then
      remaining, report, reset = left, i, w - elapsed
    end
  end
end
if allowed == 1 then
  for i = 1, n do
    local w = tonumber(ARGV[3 * i - 1])
    redis.call('HSET', KEYS[i], 's', starts[i], 'c', currents[i] + 1, 'p', previous[i])
    redis.call('PEXPIRE', KEYS[i], 2 * w)
  end
end
return { allowed, report, remaining, reset, rep_elapsed, rep_cur, rep_prev }
`;

export class RedisCountStore implements CountStore {
  readonly #limits: CompiledLimit[];
  readonly #prefix: string;
  readonly #args: Array<string | number>;
  readonly #script: ScriptCall;

  constructor(client: Redis, limits: CompiledLimit[], id: string) {
    this.#limits = limits;
    this.#prefix = `limitCount:${id}:`;
    this.#args = limits.flatMap((limit) => [limit.count, limit.windowMs, limit.sliding ? 1 : 0]);
    this.#script = redisScript(client, "porticoLimitCount", LUA);
  }

  async check(key: string): Promise<CountVerdict> {
    const limits = this.#limits;
    const keys: string[] = [];
    for (let i = 0; i < limits.length; i++) keys.push(`${this.#prefix}${key}:${i}`);
    const reply = (await this.#script(limits.length, ...keys, ...this.#args)) as number[];
    const [allowed, report, remaining, reset, elapsed, current, previous] = reply as [number, number, number, number, number, number, number];
    const limit = limits[report - 1] as CompiledLimit;
    let retryAfterMs = 0;
    if (allowed !== 1) retryAfterMs = limit.sliding ? slidingRetry(limit.count, limit.windowMs, elapsed, current, previous) : reset;
    return { allowed: allowed === 1, limit: limit.count, remaining, resetMs: reset, retryAfterMs };
  }
}
