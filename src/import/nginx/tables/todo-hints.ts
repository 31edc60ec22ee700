/**
 * nginx directives Portico has no equivalent for, with the way to do it in Portico: the hint of
 * the TODO the importer writes in their place.
 */

export const TODO_HINTS: Record<string, string> = {
  if: "conditions: a `rewrite` or `access` hook",
  rewrite: "a `rewrite` hook that sets ctx.request.path, or `return 301 …` for a redirect",
  root: "Portico serves no static files: put them behind a static server and proxyPass to it",
  alias: "Portico serves no static files",
  index: "Portico serves no static files",
  try_files: "Portico serves no static files; a `content` hook can answer instead",
  autoindex: "Portico serves no static files",
  error_page: "custom error pages: a `headerFilter`/`bodyFilter` hook",
  proxy_redirect: "rewrite the upstream's Location in a `headerFilter` hook",
  proxy_cache: "see the proxyCache plugin (docs/plugins/proxy-cache.md)",
  proxy_cache_path: "see the proxyCache plugin (docs/plugins/proxy-cache.md)",
  expires: "addHeader: { Cache-Control: … }",
  map: "compute the value in a hook",
  geo: "compute the value in a hook, or ipRestriction",
  limit_conn: "see the limitConn plugin (docs/plugins/limit-conn.md)",
  limit_conn_zone: "see the limitConn plugin (docs/plugins/limit-conn.md)",
  internal: "no internal locations: make it unreachable or check in an `access` hook",
  limit_except: "an `access` hook that checks ctx.request.method",
  auth_request: "an `access` hook that calls the auth service, or jwtAuth/openidConnect",
};

/** The hint for a directive that is in no table. */
export const UNKNOWN_HINT = "unknown to the importer: no Portico equivalent was carried";

/** The hint for OpenResty's `lua_*` settings. */
export const LUA_SETTING_HINT = "OpenResty setting: shared dicts become a plugin's state (env.keep) or Redis; package paths become imports";
