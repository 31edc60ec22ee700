/**
 * compression: gzip and brotli (node:zlib) of responses, as nginx's gzip module, chosen by the
 * client's Accept-Encoding and the response's type. Streamed: each chunk is compressed and
 * flushed as it comes, so a streaming upstream reaches the client incrementally and memory stays
 * bounded by one chunk. Skipped for HEAD, 1xx/204/206/304, an encoded response, and
 * Cache-Control: no-transform.
 */
import type { OutgoingHttpHeaders } from "node:http";
import zlib from "node:zlib";
import type { z } from "zod";
import { definePlugin } from "../../lifecycle/plugin.js";
import { type CompressionConfig, compressionSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    compression: z.input<typeof compressionSchema>;
  }
}

type Coding = "br" | "gzip";

interface CompressionState {
  anyType: boolean;
  types: Set<string>;
  minLength: number;
  gzip: boolean;
  brotli: boolean;
  level: number;
  brotliLevel: number;
}

/** The per-request encoder, kept in ctx.store between the body filter's calls. */
class Encoder {
  readonly stream: zlib.Gzip | zlib.BrotliCompress;
  readonly #flushKind: number;
  #out: Buffer[] = [];
  #error: Error | null = null;
  ended = false;

  constructor(coding: Coding, state: CompressionState) {
    this.stream =
      coding === "br"
        ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: state.brotliLevel } })
        : zlib.createGzip({ level: state.level });
    this.#flushKind = coding === "br" ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH;
    this.stream.on("data", (chunk: Buffer) => this.#out.push(chunk));
    this.stream.on("error", (error: Error) => {
      this.#error = error;
    });
  }

  #take(): Buffer | null {
    if (this.#error) throw this.#error;
    const out = this.#out;
    this.#out = [];
    return out.length === 0 ? null : out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** Compresses one chunk and flushes it, so that what came so far can be decoded by the client. */
  write(chunk: Buffer): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.stream.write(chunk);
      this.stream.flush(this.#flushKind, () => {
        try {
          resolve(this.#take());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** Compresses the last chunk (if any) and ends the stream. */
  end(chunk: Buffer | null): Promise<Buffer | null> {
    this.ended = true;
    return new Promise((resolve, reject) => {
      this.stream.once("end", () => {
        try {
          resolve(this.#take());
        } catch (error) {
          reject(error);
        }
      });
      this.stream.once("error", reject);
      this.stream.end(chunk ?? undefined);
    });
  }
}

const ENCODER = "compression.encoder";

/** The coding to use by Accept-Encoding's q-values (RFC 9110 12.5.3), or null. */
export function chooseCoding(accept: string | undefined, gzip: boolean, brotli: boolean): Coding | null {
  if (accept === undefined || accept === "") return null;
  let qGzip = -1;
  let qBr = -1;
  let qAny = -1;
  for (const part of accept.split(",")) {
    const [rawToken = "", ...params] = part.split(";");
    const token = rawToken.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const match = /^\s*q\s*=\s*(.*?)\s*$/i.exec(param);
      if (match) q = /^[0-9.]+$/.test(match[1] as string) ? Number(match[1]) : 0;
    }
    if (Number.isNaN(q)) q = 0;
    if (token === "gzip" || token === "x-gzip") qGzip = Math.max(qGzip, q);
    else if (token === "br") qBr = Math.max(qBr, q);
    else if (token === "*") qAny = q;
  }
  if (qGzip < 0) qGzip = qAny;
  if (qBr < 0) qBr = qAny;
  if (brotli && qBr > 0 && (!gzip || qBr >= qGzip)) return "br";
  if (gzip && qGzip > 0) return "gzip";
  return null;
}

/** A header by lower-case name; a `return` location's own headers may be capitalised. */
function headerKey(headers: OutgoingHttpHeaders, lower: string): string | undefined {
  if (headers[lower] !== undefined) return lower;
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) return key;
  return undefined;
}

function headerText(headers: OutgoingHttpHeaders, lower: string): string | undefined {
  const key = headerKey(headers, lower);
  if (key === undefined) return undefined;
  const value = headers[key];
  return value === undefined ? undefined : Array.isArray(value) ? value.join(", ") : String(value);
}

function addVary(headers: OutgoingHttpHeaders, token: string): void {
  const key = headerKey(headers, "vary") ?? "vary";
  const current = headerText(headers, "vary");
  if (current === undefined || current === "") headers[key] = token;
  else if (
    current.trim() !== "*" &&
    !current
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(token.toLowerCase())
  )
    headers[key] = `${current}, ${token}`;
}

export const compression = definePlugin({
  name: "compression",
  priority: 40,
  description: "Compresses responses with gzip or brotli by Accept-Encoding and content type, streamed (nginx gzip).",
  schema: compressionSchema,
  init: (conf: CompressionConfig): CompressionState => ({
    anyType: conf.types.includes("*"),
    types: new Set(conf.types.map((type) => type.toLowerCase())),
    minLength: conf.minLength,
    gzip: conf.gzip,
    brotli: conf.brotli,
    level: conf.level,
    brotliLevel: conf.brotliLevel,
  }),
  headerFilter(ctx, state) {
    const { status, headers } = ctx.response;
    if (ctx.request.method === "HEAD" || status < 200 || status === 204 || status === 206 || status === 304) return;
    const encoding = headerText(headers, "content-encoding");
    if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") return;
    const type = headerText(headers, "content-type");
    if (type === undefined) return;
    if (!state.anyType && !state.types.has((type.split(";")[0] as string).trim().toLowerCase())) return;
    if (/(^|,)\s*no-transform\s*(,|$)/i.test(headerText(headers, "cache-control") ?? "")) return;
    const lengthKey = headerKey(headers, "content-length");
    if (lengthKey !== undefined && Number(headers[lengthKey]) < state.minLength) return;
    // Compressible: caches must keep one copy per Accept-Encoding, whether or not this client takes it.
    addVary(headers, "Accept-Encoding");
    const accept = ctx.request.headers["accept-encoding"];
    const coding = chooseCoding(Array.isArray(accept) ? accept.join(",") : accept, state.gzip, state.brotli);
    if (coding === null) return;
    if (encoding !== undefined) delete headers[headerKey(headers, "content-encoding") as string];
    headers["content-encoding"] = coding;
    if (lengthKey !== undefined) delete headers[lengthKey];
    // The bytes change: a strong validator would claim byte equality (RFC 9110 8.8.3).
    const etagKey = headerKey(headers, "etag");
    const etag = etagKey === undefined ? undefined : headers[etagKey];
    if (etagKey !== undefined && typeof etag === "string" && etag.startsWith('"')) headers[etagKey] = `W/${etag}`;
    ctx.store.set(ENCODER, new Encoder(coding, state));
  },
  bodyFilter(ctx) {
    const encoder = ctx.store.get(ENCODER) as Encoder | undefined;
    if (encoder === undefined || encoder.ended) return undefined;
    const chunk = ctx.chunk;
    if (ctx.eof) {
      return encoder.end(chunk).then((out) => {
        ctx.chunk = out;
      });
    }
    if (chunk === null || chunk.length === 0) return undefined;
    return encoder.write(chunk).then((out) => {
      ctx.chunk = out;
    });
  },
  log(ctx) {
    // The client went away before the end: free the zlib stream.
    const encoder = ctx.store.get(ENCODER) as Encoder | undefined;
    if (encoder !== undefined && !encoder.ended) encoder.stream.destroy();
  },
});
