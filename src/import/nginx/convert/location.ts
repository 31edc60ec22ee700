/**
 * `location … { … }` → a location of the virtual host: its key, how it answers (proxy_pass or
 * return), the headers it inherits, its plugins. Nested locations are flattened into the server.
 */
import type { Directive } from "../parser.js";
import { convertCommon, convertOther } from "./common.js";
import type { ConvertContext } from "./context.js";
import { levelPlugins } from "./plugins.js";
import { returnValue } from "./return.js";
import { type Level, newLevel, type Obj } from "./types.js";

function locationKey(d: Directive): string | null {
  const args = d.args;
  if (args.length === 2 && ["=", "~", "~*", "^~"].includes(args[0] as string)) return `${args[0]} ${args[1]}`;
  if (args.length !== 1) return null;
  const arg = args[0] as string;
  const glued = /^(=|\^~|~\*|~)(.+)$/.exec(arg);
  if (glued) return `${glued[1]} ${glued[2]}`;
  return arg;
}

export function convertLocation(ctx: ConvertContext, d: Directive, parent: Level, locations: Obj, parentLocation: { out: Obj; key: string } | null): void {
  const key = locationKey(d);
  const parentPath = ["virtualHosts", ...parent.path.slice(1, 2), "locations"];
  if (key === null || key.startsWith("@")) {
    ctx.todo(
      d,
      parent.path,
      key?.startsWith("@") ? "named locations (error_page, try_files targets) have no equivalent" : "a location key Portico does not read",
    );
    return;
  }
  if (Object.hasOwn(locations, key)) {
    ctx.todo(d, parent.path, `a second location "${key}" in this server (nested locations are flattened)`);
    return;
  }
  // Inheritable options of an outer location carry into a flattened nested one.
  const out: Obj = parentLocation ? inheritedOptions(parentLocation.out) : {};
  const level = newLevel("location", parent, [...parentPath, key], out);
  if (parentLocation) {
    ctx.warn(
      d,
      level.path,
      `nested in "${parentLocation.key}" and flattened: Portico's locations do not nest${
        /^[~]/.test(key) && !/^(=|~)/.test(parentLocation.key) ? "; this regex now also matches outside its parent" : ""
      }`,
    );
  }
  locations[key] = out;
  let answered = false;
  let content: Directive | undefined;
  const statics: Directive[] = [];
  const nested: Directive[] = [];
  for (const s of d.block ?? []) {
    switch (s.name) {
      case "proxy_pass": {
        const url = s.args[0];
        if (s.args.length !== 1 || url === undefined || !/^https?:\/\//.test(url) || url.includes("$")) {
          ctx.todo(s, level.path, "proxyPass takes an http(s):// URL without variables");
        } else if (answered) ctx.todo(s, level.path, "a second way to answer in this location");
        else {
          out.proxyPass = url;
          answered = true;
        }
        break;
      }
      case "return": {
        const value = returnValue(ctx, s, level.path);
        if (value !== undefined && !answered) {
          // nginx's return runs in the rewrite phase: it wins over proxy_pass.
          delete out.proxyPass;
          out.return = value;
          answered = true;
        }
        break;
      }
      case "location":
        nested.push(s);
        break;
      case "root":
      case "alias":
      case "index":
      case "try_files":
      case "autoindex":
        statics.push(s);
        convertOther(ctx, s, level.path);
        break;
      default:
        if (/^content_by_lua/.test(s.name)) content = s;
        if (!convertCommon(ctx, s, level)) convertOther(ctx, s, level.path);
    }
  }
  effectiveHeaders(level, out);
  levelPlugins(ctx, level, out);
  if (out.return === undefined && out.proxyPass === undefined) {
    const why = content ? content.name : statics.length > 0 ? "static files" : "nothing that answers was carried";
    out.return = `501 'not migrated from nginx: ${why}'`;
    if (!content && statics.length === 0) ctx.todo(d, level.path, "this location has no proxy_pass or return: a placeholder return 501 was written");
  }
  for (const child of nested) convertLocation(ctx, child, level, locations, { out, key });
}

/** proxy_set_header and add_header: a level's own list, else the nearest level's that has one (nginx). */
function effectiveHeaders(level: Level, out: Obj): void {
  const nearest = <K extends "proxySetHeader" | "addHeader">(key: K): Level[K] => {
    for (let l: Level | null = level; l; l = l.parent) if (l[key] !== null) return l[key];
    return null;
  };
  const set = nearest("proxySetHeader");
  if (set) {
    const headers: Record<string, string> = {};
    let upgrade = false;
    let connection = false;
    for (const [name, value] of set) {
      const lower = name.toLowerCase();
      if (lower === "upgrade" && value === "$http_upgrade") upgrade = true;
      else if (lower === "connection" && /^(upgrade|\$connection_upgrade)$/i.test(value)) connection = true;
      else headers[name] = value;
    }
    if (upgrade && connection && out.proxyPass !== undefined) out.proxyWebsockets = true;
    else if (upgrade) headers.Upgrade = "$http_upgrade";
    else if (connection) {
      const original = set.find(([name]) => name.toLowerCase() === "connection");
      if (original) headers[original[0]] = original[1];
    }
    if (Object.keys(headers).length > 0 && out.proxyPass !== undefined) out.proxySetHeader = headers;
  }
  const add = nearest("addHeader");
  if (add) out.addHeader = Object.fromEntries(add.map(([name, value]) => [name, value]));
}

/** Options of an outer location that a nested one inherits (not its way of answering). */
function inheritedOptions(out: Obj): Obj {
  const { proxyPass: _p, return: _r, proxySetHeader: _s, addHeader: _a, proxyWebsockets: _w, ...rest } = out;
  return structuredClone(rest);
}
