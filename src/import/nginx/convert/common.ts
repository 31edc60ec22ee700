/**
 * Directives valid at every level (http, server, location): the one-to-one options, the lists
 * nginx inherits only when a level sets none (proxy_set_header, add_header, allow/deny, limit_req),
 * the plugin directives collected for plugins.ts, `set`, TLS protocols and ciphers, Lua. And the
 * directives no level carries: ignored ones, and a TODO for the rest.
 */
import type { Directive } from "../parser.js";
import { IGNORED } from "../tables/ignored.js";
import { INHERITABLE, INHERITABLE_FILES } from "../tables/inheritable.js";
import { LUA_PHASES, luaPhase } from "../tables/lua-phases.js";
import { LUA_SETTING_HINT, TODO_HINTS, UNKNOWN_HINT } from "../tables/todo-hints.js";
import type { ConvertContext } from "./context.js";
import type { Level } from "./types.js";

/** A TODO for a `*_by_lua*` directive; false when `d` is none. */
function luaTodo(ctx: ConvertContext, d: Directive, path: string[]): boolean {
  const phase = luaPhase(d.name);
  if (phase === null) return false;
  ctx.todo(d, path, `Lua: rewrite it as ${LUA_PHASES[phase] ?? "a hook or a plugin"} (docs/hooks.md)`);
  return true;
}

/** Directives valid at http, server and location level. Returns false when `d` is none of them. */
export function convertCommon(ctx: ConvertContext, d: Directive, level: Level): boolean {
  const path = level.path;
  const inheritable = INHERITABLE[d.name];
  if (inheritable) {
    const value = ctx.value(d, inheritable.kind, path);
    if (value !== undefined) level.out[inheritable.key] = value;
    return true;
  }
  const fileKey = INHERITABLE_FILES[d.name];
  if (fileKey) {
    if (d.args.length === 1 && !(d.args[0] as string).includes("$")) level.out[fileKey] = ctx.path(d.args[0] as string);
    else ctx.todo(d, path, "expected one file name without variables");
    return true;
  }
  switch (d.name) {
    case "proxy_set_header": {
      if (d.args.length !== 2) ctx.todo(d, path, "expected a header name and a value");
      else {
        const unknown = ctx.unknownVariable(d.args[1] as string);
        if (unknown) ctx.todo(d, path, `$${unknown} is not a Portico variable: set the header in a \`rewrite\` hook instead`);
        else (level.proxySetHeader ??= []).push([d.args[0] as string, d.args[1] as string, d]);
      }
      return true;
    }
    case "add_header": {
      const [name, value, always] = d.args;
      if (name === undefined || value === undefined || (always !== undefined && always !== "always") || d.args.length > 3) {
        ctx.todo(d, path, "expected a header name, a value and maybe `always`");
      } else if (value.includes("$")) {
        ctx.todo(d, path, "addHeader values are constants: set a header with variables in a `headerFilter` hook");
      } else (level.addHeader ??= []).push([name, always ? `${value} always` : value, d]);
      return true;
    }
    case "allow":
    case "deny":
      (level.access ??= []).push(d);
      return true;
    case "limit_req":
      (level.limitReq ??= []).push(d);
      return true;
    case "limit_req_status":
      level.limitReqStatus = d;
      return true;
    case "auth_basic":
      level.authBasic = d;
      return true;
    case "auth_basic_user_file":
      level.authBasicUserFile = d;
      return true;
    case "gzip":
    case "gzip_comp_level":
    case "gzip_min_length":
    case "gzip_types":
      level.gzip.set(d.name, d);
      return true;
    case "set": {
      const [name, value] = d.args;
      if (d.args.length === 2 && name?.startsWith("$") && value !== undefined && !value.includes("$") && !Object.hasOwn(ctx.vars, name.slice(1))) {
        ctx.vars[name.slice(1)] = value;
        if (level.kind !== "http") ctx.warn(d, path, `carried as the top-level vars.${name.slice(1)}: Portico's vars are global`);
      } else ctx.todo(d, path, "set with variables, or set twice: compute it in a `rewrite` hook (ctx.vars for constants)");
      return true;
    }
    case "ssl_protocols": {
      const protocols = d.args.filter((p) => p === "TLSv1.2" || p === "TLSv1.3");
      if (protocols.length > 0) ctx.config.sslProtocols = protocols;
      if (protocols.length !== d.args.length) ctx.warn(d, path, "Portico offers TLSv1.2 and TLSv1.3 only; older versions were dropped");
      if (level.kind !== "http") ctx.warn(d, path, "carried to the top-level sslProtocols: Portico sets it for every listener");
      return true;
    }
    case "ssl_ciphers":
      ctx.config.sslCiphers = d.args.join(" ");
      if (level.kind !== "http") ctx.warn(d, path, "carried to the top-level sslCiphers: Portico sets it for every listener");
      return true;
    case "location":
      ctx.todo(d, path, "a location outside a server");
      return true;
    default:
      return luaTodo(ctx, d, path);
  }
}

/** Directives no level carries: ignored ones, and TODO for the rest. */
export function convertOther(ctx: ConvertContext, d: Directive, path: string[]): void {
  if (Object.hasOwn(IGNORED, d.name) || d.name.startsWith("ssl_stapling") || d.name.startsWith("gzip_")) {
    ctx.notes.push({
      kind: "ignored",
      file: ctx.file(d),
      line: d.line,
      directive: d.name,
      original: d.block ? `${d.name} { … }` : ctx.original(d),
      hint: IGNORED[d.name] || "not needed by Portico",
      path,
    });
    return;
  }
  if (luaTodo(ctx, d, path)) return;
  if (d.name.startsWith("lua_")) {
    ctx.todo(d, path, LUA_SETTING_HINT);
    return;
  }
  ctx.todo(d, path, TODO_HINTS[d.name] ?? UNKNOWN_HINT);
}
