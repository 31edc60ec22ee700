/**
 * limitReq in Redis: the same leaky bucket in one script per request, on a hash { e: excess,
 * l: last (ms) } that expires once the bucket would have drained. Times come from Redis's clock.
 */
import type { Redis } from "ioredis";
import { LUA_NOW, redisScript, type ScriptCall } from "../../../limits/redis-script.js";
import type { ReqStore, ReqVerdict } from "./types.js";

// KEYS[1]: the bucket. ARGV: rate (r/1000s), burst (milli-requests). Returns { allowed, excess }.
const LUA = `${LUA_NOW}
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'e', 'l')
local excess, last = tonumber(v[1]), tonumber(v[2])
if not excess then
  redis.call('HSET', KEYS[1], 'e', 0, 'l', now)
  redis.call('PEXPIRE', KEYS[1], math.floor(burst * 1000 / rate) + 1000)
  return { 1, 0 }
end
local ms = now - last
if ms < -60000 then ms = 1 elseif ms < 0 then ms = 0 end
local e = excess - math.floor(rate * ms / 1000) + 1000
if e < 0 then e = 0 end
if e > burst then return { 0, e } end
if ms ~= 0 then last = now end
redis.call('HSET', KEYS[1], 'e', e, 'l', last)
redis.call('PEXPIRE', KEYS[1], math.floor(e * 1000 / rate) + 1000)
return { 1, e }
`;

export class RedisReqStore implements ReqStore {
  readonly #prefix: string;
  readonly #rate: number;
  readonly #burst: number;
  readonly #script: ScriptCall;

  constructor(client: Redis, rate: number, burst: number, id: string) {
    this.#prefix = `limitReq:${id}:`;
    this.#rate = rate;
    this.#burst = burst * 1000;
    this.#script = redisScript(client, "porticoLimitReq", LUA);
  }

  async take(key: string): Promise<ReqVerdict> {
    const [allowed, excess] = (await this.#script(1, `${this.#prefix}${key}`, this.#rate, this.#burst)) as [number, number];
    return { allowed: allowed === 1, excess };
  }
}
