/**
 * The http level: zones and upstreams first (servers refer to them whatever the order), then the
 * servers, the options valid at every level, and the gateway-wide settings only http has
 * (timeouts, header buffers, the real client address).
 */
import { TIME_PATTERN } from "../../../config/schema.js";
import type { Directive } from "../parser.js";
import { convertCommon, convertOther } from "./common.js";
import type { ConvertContext } from "./context.js";
import { convertServer } from "./server.js";
import type { Level } from "./types.js";
import { convertUpstream } from "./upstream.js";

export function convertHttp(ctx: ConvertContext, directives: Directive[], level: Level): void {
  // Zones and upstreams first: servers refer to them whatever the order.
  for (const d of directives) {
    if (d.name === "limit_req_zone") reqZone(ctx, d);
    else if (d.name === "upstream") convertUpstream(ctx, d);
  }
  for (const d of directives) {
    if (d.name === "limit_req_zone" || d.name === "upstream") continue;
    if (d.name === "server") convertServer(ctx, d, level);
    else if (convertCommon(ctx, d, level)) continue;
    else httpOnly(ctx, d, level);
  }
}

function httpOnly(ctx: ConvertContext, d: Directive, level: Level): void {
  const single = d.args[0];
  switch (d.name) {
    case "keepalive_timeout": {
      if (single !== undefined && TIME_PATTERN.test(single)) ctx.config.keepaliveTimeout = single;
      else ctx.todo(d, level.path, "expected a time");
      return;
    }
    case "client_header_timeout":
      if (single !== undefined && TIME_PATTERN.test(single)) ctx.config.clientHeaderTimeout = single;
      else ctx.todo(d, level.path, "expected a time");
      return;
    case "large_client_header_buffers":
      ctx.config.largeClientHeaderBuffers = d.args.join(" ");
      return;
    case "set_real_ip_from":
      if (single !== undefined && /^[0-9a-fA-F:.]+(\/\d+)?$/.test(single)) ((ctx.config.trustedProxies ??= []) as string[]).push(single);
      else ctx.todo(d, level.path, "Portico takes addresses and CIDRs only");
      return;
    case "real_ip_header":
      if (single === "proxy_protocol") ctx.todo(d, level.path, "PROXY protocol is not supported");
      else if (single !== undefined) ctx.config.realIpHeader = single;
      return;
    case "real_ip_recursive":
      ctx.config.realIpRecursive = single === "on";
      return;
    default:
      convertOther(ctx, d, level.path);
  }
}

function reqZone(ctx: ConvertContext, d: Directive): void {
  const [key, ...params] = d.args;
  let name: string | undefined;
  let size: number | null = null;
  let rate: string | undefined;
  for (const param of params) {
    const zone = /^zone=([^:]+)(?::(\d+)([kKmMgG]?))?$/.exec(param);
    if (zone) {
      name = zone[1];
      if (zone[2] !== undefined) size = Number(zone[2]) * ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(zone[3] ?? "").toLowerCase()] ?? 1);
    } else if (param.startsWith("rate=")) rate = param.slice(5);
  }
  if (key === undefined || name === undefined || rate === undefined || !/^\d+r\/[sm]$/.test(rate)) {
    ctx.todo(d, [], "expected limit_req_zone KEY zone=NAME:SIZE rate=Nr/s");
    return;
  }
  ctx.zones.set(name, { key, rate, size, directive: d });
}
