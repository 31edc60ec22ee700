/**
 * Lua scripts as ioredis custom commands (EVALSHA, falling back to EVAL after a Redis restart
 * emptied its script cache), defined once per shared client. Scripts take their time from Redis
 * (`TIME`), so that instances whose clocks disagree still count in the same windows.
 */
import type { Redis } from "ioredis";

const defined = new WeakMap<Redis, Set<string>>();

export type ScriptCall = (numberOfKeys: number, ...args: Array<string | number>) => Promise<unknown>;

export function redisScript(client: Redis, name: string, lua: string): ScriptCall {
  let names = defined.get(client);
  if (!names) {
    names = new Set();
    defined.set(client, names);
  }
  if (!names.has(name)) {
    client.defineCommand(name, { lua });
    names.add(name);
  }
  const command = (client as unknown as Record<string, ScriptCall>)[name] as ScriptCall;
  return command.bind(client);
}

/** Milliseconds from Redis's clock, as the first lines of a script. */
export const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Waits (at load, at most `timeoutMs`) for the shared client to connect, so that the first
 * requests after a start are counted rather than let through as if Redis were down. A Redis that
 * does not answer in time does not stop the load: the failure policy applies until it does.
 */
export function whenReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once("ready", done);
  });
}
