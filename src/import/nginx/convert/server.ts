/** `server { … }` → a virtual host: names, listen addresses, certificates, a server-level return, its locations. */
import type { Directive } from "../parser.js";
import { convertCommon, convertOther } from "./common.js";
import type { ConvertContext } from "./context.js";
import { convertLocation } from "./location.js";
import { levelPlugins } from "./plugins.js";
import { returnValue } from "./return.js";
import { type Level, newLevel, type Obj, type ServerInfo } from "./types.js";

export function convertServer(ctx: ConvertContext, d: Directive, http: Level): void {
  const directives = d.block ?? [];
  const names = directives.filter((s) => s.name === "server_name").flatMap((s) => s.args);
  const index = ctx.servers.length + 1;
  let key = names.find((n) => n !== "") ?? `server${index}`;
  if (ctx.servers.some((s) => s.key === key)) key = `${key}#${index}`;
  const out: Obj = {};
  const level = newLevel("server", http, ["virtualHosts", key], out);
  const info: ServerInfo = { key, names, out, listens: [], isDefault: false, directive: d, redirectsToHttps: false };
  const locations: Obj = {};
  let serverReturn: Directive | undefined;
  for (const s of directives) {
    if (s.name === "server_name") continue;
    if (s.name === "listen") listen(ctx, s, info, level.path);
    else if (s.name === "location") convertLocation(ctx, s, level, locations, null);
    else if (s.name === "return") serverReturn = s;
    else if (s.name === "ssl_certificate" || s.name === "ssl_certificate_key") {
      const arg = s.args[0];
      if (s.args.length === 1 && arg !== undefined && !arg.includes("$") && !arg.startsWith("data:"))
        out[s.name === "ssl_certificate" ? "sslCertificate" : "sslCertificateKey"] = ctx.path(arg);
      else ctx.todo(s, level.path, "a certificate file without variables");
    } else if (s.name === "http2") out.http2 = s.args[0] === "on";
    else if (s.name === "ssl") ctx.todo(s, level.path, "`ssl on` is obsolete: use `listen … ssl`");
    else if (!convertCommon(ctx, s, level)) convertOther(ctx, s, level.path);
  }
  if (info.listens.length === 0) info.listens.push({ port: 80, ssl: false });
  if (serverReturn) {
    const value = returnValue(ctx, serverReturn, level.path);
    if (value !== undefined) {
      if (Object.keys(locations).length > 0)
        ctx.warn(serverReturn, level.path, "a server-level return answers every request: the server's locations never run in nginx, and were dropped");
      for (const key of Object.keys(locations)) delete locations[key];
      locations["/"] = { return: value };
      info.redirectsToHttps = /^30[1278] https:\/\/(\$host|\$server_name)\$request_uri$/.test(String(value));
    }
  }
  levelPlugins(ctx, level, out);
  if (Object.keys(locations).length > 0) out.locations = locations;
  const ssl = info.listens.some((l) => l.ssl);
  const plain = info.listens.some((l) => !l.ssl);
  if (ssl && !plain) out.onlySSL = true;
  else if (ssl && plain) out.addSSL = true;
  ctx.servers.push(info);
}

function listen(ctx: ConvertContext, d: Directive, info: ServerInfo, path: string[]): void {
  const [address, ...params] = d.args;
  if (address === undefined || address.startsWith("unix:")) {
    ctx.todo(d, path, "Portico listens on TCP only");
    return;
  }
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+|\*):)?(\d{1,5})$/.exec(address) ?? /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)()$/.exec(address);
  if (!match) {
    ctx.todo(d, path, "a listen address Portico does not read");
    return;
  }
  const addr = match[1] === undefined || match[1] === "*" ? undefined : match[1];
  const port = match[2] ? Number(match[2]) : 80;
  let ssl = false;
  for (const param of params) {
    if (param === "default_server" || param === "default") info.isDefault = true;
    else if (param === "ssl") ssl = true;
    else if (param === "http2") info.out.http2 = true;
    else if (param === "proxy_protocol") ctx.todo(d, path, "PROXY protocol is not supported");
    else if (!/^(reuseport|deferred|bind|ipv6only=\w+|backlog=\d+|rcvbuf=\S+|sndbuf=\S+|so_keepalive=\S+|fastopen=\d+)$/.test(param))
      ctx.warn(d, path, `the listen parameter "${param}" was dropped`);
  }
  info.listens.push({ ...(addr !== undefined ? { addr } : {}), port, ssl });
}
