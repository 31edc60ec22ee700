/**
 * OpenResty's `*_by_lua*` phases and what each becomes in Portico: the hint of the TODO the
 * importer writes for a Lua directive (docs/hooks.md).
 */

/** OpenResty phase → Portico hook. */
export const LUA_PHASES: Record<string, string> = {
  set: "a `rewrite` hook (or `vars` for a constant)",
  rewrite: "a `rewrite` hook",
  access: "an `access` hook (return ctx.exit(status, body) to refuse)",
  content: "a `content` hook (return a string, an object or a Response)",
  header_filter: "a `headerFilter` hook",
  body_filter: "a `bodyFilter` hook (ctx.chunk, ctx.eof)",
  log: "a `log` hook",
  balancer: "upstreams.NAME.loadBalancing (hash with hashKey) or a plugin",
  init: "a plugin's init(conf, env), or top-level code in a hook module",
  init_worker: "a plugin's init(conf, env) (timers: keep them in env.keep)",
  exit_worker: "a plugin's close()",
  ssl_certificate: "nothing yet: certificates are per virtual host (sslCertificate)",
  ssl_session_fetch: "nothing: TLS sessions are Node's",
  ssl_session_store: "nothing: TLS sessions are Node's",
  ssl_client_hello: "nothing yet",
  server_rewrite: "a `rewrite` hook on each location",
};

/** The OpenResty phase of a `*_by_lua`, `*_by_lua_block` or `*_by_lua_file` directive; null for any other. */
export function luaPhase(name: string): string | null {
  return /_by_lua(_block|_file)?$/.test(name) ? name.replace(/_by_lua(_block|_file)?$/, "") : null;
}
