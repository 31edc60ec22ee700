import { z } from "zod";
import { SizeSchema, TimeSchema } from "../../config/schema.js";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HeaderName = z.string().regex(HEADER_NAME, "not a valid header name");

export const cacheKeySchema = z
  .strictObject({
    method: z.boolean().default(true).describe("Include the method (HEAD counts as GET, so HEAD is answered from a GET's entry)."),
    host: z.boolean().default(true).describe("Include the Host the client asked for (lower-cased)."),
    path: z.boolean().default(true).describe("Include the normalised path."),
    query: z.boolean().default(true).describe("Include the query string, as received."),
    headers: z.array(HeaderName).default([]).describe("Request headers whose values are part of the key (beyond what the upstream's Vary asks for)."),
    consumer: z.boolean().default(false).describe("Include the authenticated consumer's name (an auth plugin must run first): one entry per consumer."),
  })
  .describe("What makes two requests the same cache entry: nginx's proxy_cache_key. The default is method + host + path + query.");

export const bypassSchema = z
  .strictObject({
    headers: z.array(HeaderName).default([]).describe('Request headers whose presence (non-empty, not "0") bypasses the cache.'),
    cookies: z.array(z.string().min(1)).default([]).describe('Cookies whose presence (non-empty, not "0") bypasses the cache.'),
    query: z.array(z.string().min(1)).default([]).describe('Query parameters whose presence (non-empty, not "0") bypasses the cache.'),
  })
  .describe("nginx proxy_cache_bypass: such requests are not answered from the cache (the response may still be stored).");

export const proxyCacheSchema = z.strictObject({
  store: z
    .enum(["memory", "redis"])
    .default("memory")
    .describe('"memory": in this process, least recently used first out past maxSize; "redis": the top-level redis, shared by every instance.'),
  zone: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only")
    .default("default")
    .describe("nginx's keys_zone: locations naming the same zone (and store and maxSize) share one cache; also the Redis key prefix (portico:cache:ZONE:)."),
  maxSize: SizeSchema.default("64m").describe("Byte budget of a memory zone (bodies + headers); least recently used entries go first."),
  maxBodySize: SizeSchema.default("1m").describe("Larger bodies are streamed to the client but not stored."),
  methods: z
    .array(z.enum(["GET", "HEAD"]))
    .min(1)
    .default(["GET", "HEAD"])
    .describe("Methods answered from the cache (nginx proxy_cache_methods); other methods go upstream and invalidate the entry on success (RFC 9111 4.4)."),
  key: cacheKeySchema.prefault({}),
  bypass: bypassSchema.prefault({}),
  lock: z
    .boolean()
    .default(true)
    .describe("nginx proxy_cache_lock: concurrent misses for one key wait for the first one's response instead of all going upstream."),
  lockTimeout: TimeSchema.default("5s").describe("How long a request waits on the lock before going upstream itself (nginx proxy_cache_lock_timeout)."),
  keepExpired: TimeSchema.default("10m").describe(
    "How long an expired entry that has a validator (ETag or Last-Modified) is kept past its freshness (and stale-* windows), so it can be revalidated with a conditional request.",
  ),
  cacheStatusHeader: z
    .union([HeaderName, z.literal(false)])
    .default("X-Cache-Status")
    .describe("Response header with nginx's $upstream_cache_status (HIT, MISS, EXPIRED, STALE, BYPASS, REVALIDATED); false sends none."),
});

export type ProxyCacheConfig = z.output<typeof proxyCacheSchema>;
