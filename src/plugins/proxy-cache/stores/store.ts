import type CachePolicy from "http-cache-semantics";

/** A stored response: the policy holds the status and headers (http-cache-semantics), the body is one Buffer. */
export interface CachedResponse {
  readonly kind: "response";
  readonly status: number;
  readonly policy: CachePolicy;
  readonly body: Buffer;
}

/** Stored at the primary key when the upstream's response has Vary: where its variants live. */
export interface VaryIndex {
  readonly kind: "vary";
  readonly vary: readonly string[];
}

export type CacheItem = CachedResponse | VaryIndex;

export type PurgeTarget = { key: string; prefix?: undefined } | { prefix: string; key?: undefined };

/** A cache zone's storage, memory or Redis. */
export interface CacheStore {
  readonly kind: "memory" | "redis";
  readonly zone: string;
  /** Synchronous for memory (a HIT costs no await). */
  get(key: string): CacheItem | undefined | Promise<CacheItem | undefined>;
  set(key: string, item: CacheItem, ttl: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
  /** `key`: that entry and its variants (and its method forms when given without one); `prefix`: every key that starts with it. Resolves with how many keys went. */
  purge(target: PurgeTarget): Promise<number>;
  close(): void | Promise<void>;
}

/** Bytes an item takes: body, headers, key (the memory budget and the Redis value). */
export function itemSize(key: string, item: CacheItem): number {
  if (item.kind === "vary") return key.length + 64;
  let size = key.length + item.body.length + 256;
  const headers = item.policy.responseHeaders();
  for (const name in headers) size += name.length + String(headers[name]).length + 4;
  return size;
}

/** Whether `candidate` is `key` or one of its variants / method forms (`key …`). */
export function belongsTo(candidate: string, key: string): boolean {
  return candidate === key || candidate.startsWith(`${key} `);
}
