/**
 * The directives that become plugins, at the levels that set them, with nginx's inheritance:
 * auth_basic → basicAuth, limit_req → limitReq, allow/deny → ipRestriction, gzip → compression.
 */
import type { Directive } from "../parser.js";
import type { ConvertContext } from "./context.js";
import type { Level, Obj } from "./types.js";

/** Plugins (basicAuth, limitReq, ipRestriction, compression) at the levels that set them, with nginx's inherited values. */
export function levelPlugins(ctx: ConvertContext, level: Level, out: Obj): void {
  const chain: Level[] = [];
  for (let l: Level | null = level; l; l = l.parent) chain.push(l);
  const nearest = <T>(pick: (l: Level) => T | undefined | null): T | undefined => {
    for (const l of chain) {
      const value = pick(l);
      if (value !== undefined && value !== null) return value;
    }
    return undefined;
  };

  // auth_basic + auth_basic_user_file: each inherited on its own.
  if (level.authBasic || level.authBasicUserFile) {
    const realm = nearest((l) => l.authBasic);
    const file = nearest((l) => l.authBasicUserFile);
    const realmText = realm?.args[0];
    if (!realm || realmText === "off") {
      if (chain.slice(1).some((l) => l.authBasic && l.authBasic.args[0] !== "off")) out.basicAuth = false;
    } else if (!file || file.args[0] === undefined || file.args[0].includes("$")) {
      ctx.todo(realm, level.path, "auth_basic needs auth_basic_user_file (a file name without variables)");
    } else if (realmText === undefined || /["\\\r\n$]/.test(realmText)) {
      ctx.todo(realm, level.path, "a realm without quotes, backslashes or variables");
    } else {
      out.basicAuth = { htpasswdFile: ctx.path(file.args[0]), realm: realmText };
    }
  }

  // limit_req (inherited only when the level sets none) + limit_req_status (inherited normally).
  if (level.limitReq || (level.limitReqStatus && nearest((l) => l.limitReq))) {
    const rules = nearest((l) => l.limitReq) ?? [];
    const status = nearest((l) => l.limitReqStatus);
    const [rule, ...more] = rules;
    for (const extra of more) ctx.todo(extra, level.path, "Portico takes one limitReq per level: combine the zones, or add a limitCount");
    if (rule) {
      const conf = limitReq(ctx, rule, level.path);
      if (conf) {
        // nginx refuses with 503 unless limit_req_status says otherwise; Portico's default is 429.
        const code = status?.args[0];
        conf.status = code && /^\d{3}$/.test(code) ? Number(code) : 503;
        out.limitReq = conf;
      }
    }
  }

  // allow / deny: first match wins in nginx; Portico has an allow list and a deny list.
  if (level.access) ipRestriction(ctx, level, out);

  // gzip → compression.
  if (level.gzip.size > 0) {
    const gzip = nearest((l) => l.gzip.get("gzip"));
    if (gzip?.args[0] !== "on") {
      if (chain.slice(1).some((l) => l.gzip.get("gzip")?.args[0] === "on")) out.compression = false;
    } else {
      const conf: Obj = { brotli: false };
      const level_ = nearest((l) => l.gzip.get("gzip_comp_level"))?.args[0];
      if (level_ && /^[1-9]$/.test(level_)) conf.level = Number(level_);
      const min = nearest((l) => l.gzip.get("gzip_min_length"))?.args[0];
      if (min && /^\d+$/.test(min)) conf.minLength = Number(min);
      const types = nearest((l) => l.gzip.get("gzip_types"))?.args;
      // nginx always compresses text/html, and gzip_types adds to it.
      conf.types = types ? [...new Set(["text/html", ...types])] : ["text/html"];
      out.compression = conf;
    }
  }
}

function limitReq(ctx: ConvertContext, d: Directive, path: string[]): Obj | null {
  const conf: Obj = {};
  let zoneName: string | undefined;
  for (const param of d.args) {
    const [key, value] = param.split("=", 2) as [string, string | undefined];
    if (key === "zone") zoneName = value;
    else if (key === "burst" && value && /^\d+$/.test(value)) conf.burst = Number(value);
    else if (key === "delay" && value && /^\d+$/.test(value)) conf.delay = Number(value);
    else if (key === "nodelay" && value === undefined) conf.nodelay = true;
    else {
      ctx.todo(d, path, `the limit_req parameter "${param}" has no Portico equivalent`);
      return null;
    }
  }
  const zone = zoneName === undefined ? undefined : ctx.zones.get(zoneName);
  if (!zone) {
    ctx.todo(d, path, `no limit_req_zone named "${zoneName ?? ""}"`);
    return null;
  }
  const result: Obj = { rate: zone.rate, ...conf };
  if (zone.key !== "$binary_remote_addr" && zone.key !== "$remote_addr") {
    if (/^(\$(\{)?(http_[a-z0-9_]+|arg_[a-z0-9_]+|uri|host|server_name|consumer_name|remote_addr|binary_remote_addr)\}?[^$]*)+$/i.test(zone.key))
      result.key = zone.key;
    else {
      ctx.todo(zone.directive, path, `the zone key ${zone.key} is not one limitReq reads: use key: { hook } in limitReq`);
      return null;
    }
  }
  // nginx: "One megabyte zone can keep about 16 thousand 64-byte states."
  if (zone.size !== null) result.maxKeys = Math.max(1, Math.floor(zone.size / 64));
  return result;
}

function ipRestriction(ctx: ConvertContext, level: Level, out: Obj): void {
  const rules = level.access ?? [];
  const path = level.path;
  const deny: string[] = [];
  const allow: string[] = [];
  let stage: "deny" | "allow" | "end" = "deny";
  let last: "allow all" | "deny all" | null = null;
  for (const rule of rules) {
    const target = rule.args[0];
    if (stage === "end" || target === undefined || target.startsWith("unix:")) {
      ctx.todo(rule, path, "rules after `all`, or unix sockets, have no equivalent");
      return;
    }
    if (target === "all") {
      last = `${rule.name as "allow" | "deny"} all`;
      stage = "end";
    } else if (rule.name === "deny" && stage === "deny") deny.push(target);
    else if (rule.name === "allow") {
      stage = "allow";
      allow.push(target);
    } else {
      for (const r of rules)
        ctx.todo(r, path, "allow and deny interleaved: nginx applies the first match; Portico's ipRestriction has one allow and one deny list");
      return;
    }
  }
  if (last === "deny all" && allow.length === 0) {
    // nginx's return runs before access: a location's own return still answers.
    if (level.kind !== "location") ctx.todo(rules.at(-1) as Directive, path, "`deny all` for a whole server: give each location return: 403");
    else if (out.return === undefined) {
      delete out.proxyPass;
      out.return = 403;
    }
    return;
  }
  const conf: Obj = {};
  if (last === "deny all") conf.allow = allow;
  if (deny.length > 0) conf.deny = deny;
  if (Object.keys(conf).length > 0) out.ipRestriction = conf;
}
