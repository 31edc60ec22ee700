/**
 * nginx directives → a Portico config object. What carries over is mapped to Portico's names;
 * what does not (Lua, `if`, `rewrite`, static files, unknown directives) becomes a TODO note that
 * keeps the original text and its `file:line`, attached to the place in the config it belonged to.
 * Settings nginx inherits "only when the level sets none" (proxy_set_header, add_header, limit_req,
 * allow/deny) are resolved here, because Portico sets some of them on locations only.
 *
 * The tables of directives live in tables/ (ignored, one-to-one options, Lua phases, TODO hints);
 * each family of directives is read in convert/ (http, upstream, server, location, return, the
 * plugin directives), and convert/assemble.ts puts the output together.
 */
import { dirname } from "node:path";
import { assemble } from "./convert/assemble.js";
import { convertOther } from "./convert/common.js";
import { ConvertContext } from "./convert/context.js";
import { convertHttp } from "./convert/http.js";
import { type ConvertOptions, type ConvertResult, newLevel } from "./convert/types.js";
import type { Directive } from "./parser.js";

export type { ConvertOptions, ConvertResult, ImportNote, NoteKind } from "./convert/types.js";

export function convertNginx(directives: Directive[], options: ConvertOptions): ConvertResult {
  const ctx = new ConvertContext(options);
  const isMain = directives.some((d) => d.name === "http" || d.name === "events");
  const http = newLevel("http", null, [], ctx.config);
  if (isMain) {
    for (const d of directives) {
      if (d.name === "http") convertHttp(ctx, d.block ?? [], http);
      else if (d.name === "stream" || d.name === "mail") ctx.todo(d, [], `Portico is an HTTP gateway: the ${d.name} module has no equivalent`);
      else convertOther(ctx, d, []);
    }
    // nginx's built-in default_type is text/plain (the stock nginx.conf sets application/octet-stream).
    if (ctx.config.defaultType === undefined) ctx.config.defaultType = "text/plain";
  } else {
    convertHttp(ctx, directives, http);
  }
  return { config: assemble(ctx, http), notes: ctx.notes };
}

/** The directory nginx resolves relative paths against: the main file's. */
export function nginxPrefix(file: string): string {
  return dirname(file);
}
