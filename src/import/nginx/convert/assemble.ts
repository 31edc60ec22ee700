/**
 * The output once every directive is read: the HTTP → HTTPS server pairs merged, the listen
 * addresses and virtual hosts of all servers, upstreams, vars and the top level's own options.
 */
import type { ConvertContext } from "./context.js";
import { levelPlugins } from "./plugins.js";
import type { Level, Obj } from "./types.js";

export function assemble(ctx: ConvertContext, http: Level): Obj {
  // The classic pair: a plain server that only redirects to https, and the TLS server of the same names.
  for (const plain of ctx.servers.filter((s) => s.redirectsToHttps && s.listens.every((l) => !l.ssl))) {
    const tls = ctx.servers.find((s) => s !== plain && s.listens.some((l) => l.ssl) && plain.names.every((n) => s.names.includes(n)));
    if (!tls) continue;
    delete tls.out.onlySSL;
    tls.out.forceSSL = true;
    tls.listens.push(...plain.listens);
    tls.isDefault ||= plain.isDefault;
    ctx.servers.splice(ctx.servers.indexOf(plain), 1);
    if (tls.key.startsWith(`${plain.key}#`)) {
      for (const note of ctx.notes) if (note.path[0] === "virtualHosts" && note.path[1] === tls.key) note.path[1] = plain.key;
      tls.key = plain.key;
    }
    ctx.note("warning", plain.directive, ["virtualHosts", tls.key], "the plain server that redirects to https became forceSSL on the TLS one");
  }
  const listens = new Map<string, string | number | Obj>();
  const seenNames = new Map<string, string>();
  const virtualHosts: Obj = {};
  const defaults = ctx.servers.filter((s) => s.isDefault);
  for (const server of ctx.servers) {
    for (const l of server.listens) {
      const id = `${l.addr ?? "*"}:${l.port}`;
      const value = l.ssl
        ? { ...(l.addr ? { addr: l.addr.replace(/^\[(.*)\]$/, "$1") } : {}), port: l.port, ssl: true }
        : l.addr
          ? `${l.addr}:${l.port}`
          : l.port;
      if (!listens.has(id)) listens.set(id, value);
    }
    const names: string[] = [];
    for (const name of server.names) {
      const owner = seenNames.get(name.toLowerCase());
      if (owner !== undefined) {
        ctx.warn(
          server.directive,
          ["virtualHosts", server.key],
          `the name "${name}" is already served by "${owner}": Portico's virtual hosts answer on every listener, so it was dropped here`,
        );
        continue;
      }
      seenNames.set(name.toLowerCase(), server.key);
      names.push(name);
    }
    const vhost: Obj = {};
    if (server.isDefault && defaults[0] === server) vhost.default = true;
    const [first, ...aliases] = names;
    if (first !== undefined && first !== server.key) vhost.serverName = first;
    if (first === undefined) vhost.serverName = "";
    if (aliases.length > 0) vhost.serverAliases = aliases;
    const { locations, ...rest } = server.out;
    Object.assign(vhost, rest);
    vhost.locations = locations ?? { "/": { return: 404 } };
    virtualHosts[server.key] = vhost;
  }
  if (new Set(ctx.servers.map((s) => s.listens.map((l) => `${l.addr}:${l.port}:${l.ssl}`).join())).size > 1) {
    const first = ctx.servers[0];
    if (first)
      ctx.warn(first.directive, ["virtualHosts"], "the servers listen on different addresses: in Portico every virtual host answers on every listener");
  }
  const config: Obj = {};
  const listenValues = [...listens.values()];
  config.listen = listenValues.length === 1 ? listenValues[0] : listenValues;
  if (Object.keys(ctx.upstreams).length > 0) config.upstreams = ctx.upstreams;
  if (Object.keys(ctx.vars).length > 0) config.vars = ctx.vars;
  effectiveTop(ctx, http, config);
  config.virtualHosts = virtualHosts;
  if (Object.keys(virtualHosts).length === 0) {
    config.virtualHosts = { localhost: { default: true, locations: { "/": { return: 404 } } } };
    ctx.notes.push({
      kind: "warning",
      file: "",
      line: 0,
      directive: "",
      original: "",
      hint: "no server block: a placeholder virtual host was written",
      path: [],
    });
  }
  return config;
}

function effectiveTop(ctx: ConvertContext, http: Level, config: Obj): void {
  // The http level's own options are in ctx.config (http.out): add its plugins, then copy.
  levelPlugins(ctx, http, http.out);
  // nginx's real_ip_recursive is off by default, Portico's on.
  if (http.out.trustedProxies !== undefined && http.out.realIpRecursive === undefined) http.out.realIpRecursive = false;
  for (const [key, value] of Object.entries(http.out)) config[key] = value;
}
