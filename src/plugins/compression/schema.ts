import { z } from "zod";

/** nginx's gzip_types default (text/html) and the types nginx configs usually add. */
export const DEFAULT_TYPES = [
  "text/html",
  "text/css",
  "text/plain",
  "text/xml",
  "text/javascript",
  "text/markdown",
  "application/javascript",
  "application/json",
  "application/problem+json",
  "application/ld+json",
  "application/manifest+json",
  "application/xml",
  "application/rss+xml",
  "application/atom+xml",
  "image/svg+xml",
];

export const compressionSchema = z.strictObject({
  types: z
    .array(z.string().regex(/^(\*|[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)$/i, 'expected a media type such as "text/html", or "*"'))
    .min(1)
    .default(DEFAULT_TYPES)
    .describe(
      'Content types to compress (nginx gzip_types), without parameters; "*" for any. Default: text/html, text/css, text/plain, JSON, JavaScript, XML, SVG….',
    ),
  minLength: z
    .number()
    .int()
    .nonnegative()
    .default(20)
    .describe("Smallest Content-Length compressed, in bytes (nginx gzip_min_length, default 20); a response of unknown length is always compressed."),
  level: z.number().int().min(1).max(9).default(6).describe("gzip level, 1 (fastest) to 9 (smallest); default 6 (zlib's)."),
  brotli: z
    .boolean()
    .default(true)
    .describe("Offer brotli too: br is preferred when the client accepts it at least as much as gzip (Accept-Encoding q-values)."),
  brotliLevel: z.number().int().min(0).max(11).default(4).describe("brotli quality, 0 to 11; default 4, a good speed for streamed responses."),
  gzip: z.boolean().default(true).describe("Offer gzip."),
});

export type CompressionConfig = z.output<typeof compressionSchema>;
