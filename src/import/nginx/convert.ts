/**
 * nginx directives → a Portico config object. What carries over is mapped to Portico's names;
 * what does not (Lua, `if`, `rewrite`, static files, unknown directives) becomes a TODO note that
 * keeps the original text and its `file:line`, attached to the place in the config it belonged to.
 * Settings nginx inherits "only when the level sets none" (proxy_set_header, add_header, limit_req,
 * allow/deny) are resolved here, because Portico sets some of them on locations only.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { SIZE_PATTERN, TIME_PATTERN } from "../../config/schema.js";
import { VARIABLE_NAMES } from "../../http/variables.js";
import type { Directive } from "./parser.js";

export type NoteKind = "todo" | "ignored" | "warning";

export interface ImportNote {
  kind: NoteKind;
  /** File relative to the main file's directory, and line. */
  file: string;
  line: number;
  directive: string;
  /** The directive as written (whole block for a block). */
  original: string;
  /** What to do about it. */
  hint: string;
  /** Keys of the config node it belongs to ([] for the top). */
  path: string[];
}

export interface ConvertOptions {
  /** The nginx conf prefix: relative paths in the config (htpasswd, certificates) are resolved against it. */
  prefix: string;
  /** Directory the Portico config will be written to: file paths are made relative to it; absolute when absent. */
  outDir?: string;
}

export interface ConvertResult {
  config: Record<string, unknown>;
  notes: ImportNote[];
}

type Obj = Record<string, unknown>;

/** OpenResty phase → Portico hook. */
const LUA_PHASES: Record<string, string> = {
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

/** Directives with nothing to carry: process, OS and buffer tuning Portico does its own way. */
const IGNORED: Record<string, string> = {
  user: "Portico runs as the user that starts it",
  worker_processes: "one process per `portico start`; run several behind a load balancer",
  worker_rlimit_nofile: "set the limit in the service manager",
  worker_cpu_affinity: "",
  worker_priority: "",
  worker_shutdown_timeout: "see shutdownTimeout",
  pid: "",
  daemon: "",
  master_process: "",
  pcre_jit: "",
  load_module: "",
  env: "Portico reads the whole environment: see env references in docs/configuration.md",
  thread_pool: "",
  timer_resolution: "",
  lock_file: "",
  events: "",
  error_log: "see errorLog",
  access_log: "see accessLog (one log for the gateway)",
  log_format: "see accessLog.format",
  sendfile: "",
  tcp_nopush: "",
  tcp_nodelay: "",
  types_hash_max_size: "",
  types_hash_bucket_size: "",
  server_names_hash_bucket_size: "",
  server_names_hash_max_size: "",
  variables_hash_max_size: "",
  variables_hash_bucket_size: "",
  map_hash_bucket_size: "",
  types: "Portico serves no static files",
  server_tokens: "Portico sends Server: portico",
  keepalive_requests: "",
  reset_timedout_connection: "",
  send_timeout: "",
  client_body_timeout: "",
  client_body_buffer_size: "request bodies are streamed",
  client_header_buffer_size: "see largeClientHeaderBuffers",
  client_body_temp_path: "request bodies are streamed",
  proxy_temp_path: "",
  fastcgi_temp_path: "",
  uwsgi_temp_path: "",
  scgi_temp_path: "",
  proxy_http_version: "Portico speaks HTTP/1.1 to upstreams",
  proxy_buffering: "responses are streamed",
  proxy_buffers: "responses are streamed",
  proxy_buffer_size: "responses are streamed",
  proxy_busy_buffers_size: "responses are streamed",
  proxy_max_temp_file_size: "responses are streamed",
  proxy_request_buffering: "request bodies are streamed",
  proxy_ssl_server_name: "Portico always sends SNI (see proxySslServerName)",
  proxy_ssl_session_reuse: "",
  ssl_session_cache: "",
  ssl_session_timeout: "",
  ssl_session_tickets: "",
  ssl_prefer_server_ciphers: "",
  ssl_dhparam: "",
  ssl_ecdh_curve: "",
  ssl_stapling: "",
  ssl_stapling_verify: "",
  resolver: "Portico uses the system's resolver",
  resolver_timeout: "",
  charset: "",
  source_charset: "",
  open_file_cache: "",
  open_file_cache_valid: "",
  open_file_cache_min_uses: "",
  open_file_cache_errors: "",
  limit_req_log_level: "",
  limit_conn_log_level: "",
  server_name_in_redirect: "",
  port_in_redirect: "",
  absolute_redirect: "",
  lua_code_cache: "",
  lua_socket_log_errors: "",
};

/** Options Portico takes at every level (top, virtual host, location), with how to read them. */
const INHERITABLE: Record<string, { key: string; kind: "time" | "size" | "string" | "onoff" | "int" | "words" }> = {
  default_type: { key: "defaultType", kind: "string" },
  client_max_body_size: { key: "clientMaxBodySize", kind: "size" },
  proxy_connect_timeout: { key: "proxyConnectTimeout", kind: "time" },
  proxy_read_timeout: { key: "proxyReadTimeout", kind: "time" },
  proxy_send_timeout: { key: "proxySendTimeout", kind: "time" },
  proxy_next_upstream: { key: "proxyNextUpstream", kind: "words" },
  proxy_next_upstream_tries: { key: "proxyNextUpstreamTries", kind: "int" },
  proxy_next_upstream_timeout: { key: "proxyNextUpstreamTimeout", kind: "time" },
  proxy_ssl_verify: { key: "proxySslVerify", kind: "onoff" },
  proxy_ssl_name: { key: "proxySslServerName", kind: "string" },
};
const INHERITABLE_FILES: Record<string, string> = {
  proxy_ssl_trusted_certificate: "proxySslTrustedCertificate",
  proxy_ssl_certificate: "proxySslCertificate",
  proxy_ssl_certificate_key: "proxySslCertificateKey",
};

const NGINX_TIME = /^\d+(ms|s|m|h|d|w)?(\d+(ms|s|m|h|d|w)?)*$/;

/** One level of nginx's config (http, server, location) while it is read. */
interface Level {
  kind: "http" | "server" | "location";
  parent: Level | null;
  /** Where its settings go in the output. */
  path: string[];
  out: Obj;
  proxySetHeader: Array<[string, string, Directive]> | null;
  addHeader: Array<[string, string, Directive]> | null;
  access: Directive[] | null;
  limitReq: Directive[] | null;
  limitReqStatus?: Directive;
  authBasic?: Directive;
  authBasicUserFile?: Directive;
  gzip: Map<string, Directive>;
}

interface ServerInfo {
  key: string;
  names: string[];
  out: Obj;
  listens: Array<{ addr?: string; port: number; ssl: boolean }>;
  isDefault: boolean;
  directive: Directive;
  /** A server whose only answer is a server-level `return 301 https://…` (the classic HTTP → HTTPS server). */
  redirectsToHttps: boolean;
}

export function convertNginx(directives: Directive[], options: ConvertOptions): ConvertResult {
  return new Converter(options).run(directives);
}

class Converter {
  readonly #options: ConvertOptions;
  readonly #notes: ImportNote[] = [];
  readonly #texts = new Map<string, string>();
  readonly #config: Obj = {};
  readonly #upstreams: Obj = {};
  readonly #zones = new Map<string, { key: string; rate: string; size: number | null; directive: Directive }>();
  readonly #servers: ServerInfo[] = [];
  readonly #vars: Obj = {};

  constructor(options: ConvertOptions) {
    this.#options = options;
  }

  run(directives: Directive[]): ConvertResult {
    const isMain = directives.some((d) => d.name === "http" || d.name === "events");
    const http = this.#newLevel("http", null, [], this.#config);
    if (isMain) {
      for (const d of directives) {
        if (d.name === "http") this.#http(d.block ?? [], http);
        else if (d.name === "stream" || d.name === "mail") this.#todo(d, [], `Portico is an HTTP gateway: the ${d.name} module has no equivalent`);
        else this.#other(d, []);
      }
      // nginx's built-in default_type is text/plain (the stock nginx.conf sets application/octet-stream).
      if (this.#config.defaultType === undefined) this.#config.defaultType = "text/plain";
    } else {
      this.#http(directives, http);
    }
    return { config: this.#assemble(http), notes: this.#notes };
  }

  // ---------- notes

  #file(d: Directive): string {
    const rel = relative(this.#options.prefix, d.file);
    return rel.startsWith("..") ? d.file : rel;
  }

  original(d: Directive): string {
    let text = this.#texts.get(d.file);
    if (text === undefined) {
      text = readFileSync(d.file, "utf8");
      this.#texts.set(d.file, text);
    }
    const slice = text.slice(d.start, d.end + 1);
    // Re-indent a block: its first line starts at the directive, the others keep their columns.
    const lineStart = text.lastIndexOf("\n", d.start - 1) + 1;
    const indent = text.slice(lineStart, d.start);
    const lines = slice.split("\n").map((line, i) => (i > 0 && /^\s*$/.test(indent) && line.startsWith(indent) ? line.slice(indent.length) : line));
    return lines.join("\n").trimEnd();
  }

  #note(kind: NoteKind, d: Directive, path: string[], hint: string): void {
    this.#notes.push({ kind, file: this.#file(d), line: d.line, directive: d.name, original: this.original(d), hint, path });
  }

  #todo(d: Directive, path: string[], hint: string): void {
    this.#note("todo", d, path, hint);
  }

  #warn(d: Directive, path: string[], hint: string): void {
    this.#note("warning", d, path, hint);
  }

  // ---------- values

  #path(file: string): string {
    const full = isAbsolute(file) ? file : join(this.#options.prefix, file);
    if (this.#options.outDir === undefined) return full;
    const rel = relative(this.#options.outDir, full);
    return rel === "" ? "." : rel;
  }

  /** Whether every `$variable` in `text` is one Portico knows. */
  #knownVariables(text: string): string | null {
    for (const match of text.matchAll(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))/g)) {
      const name = (match[1] ?? match[2]) as string;
      if (/^[0-9]$/.test(name) || VARIABLE_NAMES.includes(name) || /^(http|arg)_/.test(name) || Object.hasOwn(this.#vars, name)) continue;
      return name;
    }
    return null;
  }

  #value(d: Directive, kind: (typeof INHERITABLE)[string]["kind"], path: string[]): unknown {
    const args = d.args;
    if (kind === "words") return args.join(" ");
    if (args.length !== 1) {
      this.#todo(d, path, `expected one value, got ${args.length}`);
      return undefined;
    }
    const value = args[0] as string;
    switch (kind) {
      case "time":
        if (NGINX_TIME.test(value) && TIME_PATTERN.test(value)) return value;
        break;
      case "size":
        if (SIZE_PATTERN.test(value)) return value;
        break;
      case "onoff":
        if (value === "on" || value === "off") return value === "on";
        break;
      case "int":
        if (/^\d+$/.test(value)) return Number(value);
        break;
      default:
        return value;
    }
    this.#todo(d, path, `the value "${value}" has no Portico equivalent`);
    return undefined;
  }

  // ---------- levels

  #newLevel(kind: Level["kind"], parent: Level | null, path: string[], out: Obj): Level {
    return { kind, parent, path, out, proxySetHeader: null, addHeader: null, access: null, limitReq: null, gzip: new Map() };
  }

  /** Directives valid at http, server and location level. Returns false when `d` is none of them. */
  #common(d: Directive, level: Level): boolean {
    const path = level.path;
    const inheritable = INHERITABLE[d.name];
    if (inheritable) {
      const value = this.#value(d, inheritable.kind, path);
      if (value !== undefined) level.out[inheritable.key] = value;
      return true;
    }
    const fileKey = INHERITABLE_FILES[d.name];
    if (fileKey) {
      if (d.args.length === 1 && !(d.args[0] as string).includes("$")) level.out[fileKey] = this.#path(d.args[0] as string);
      else this.#todo(d, path, "expected one file name without variables");
      return true;
    }
    switch (d.name) {
      case "proxy_set_header": {
        if (d.args.length !== 2) this.#todo(d, path, "expected a header name and a value");
        else {
          const unknown = this.#knownVariables(d.args[1] as string);
          if (unknown) this.#todo(d, path, `$${unknown} is not a Portico variable: set the header in a \`rewrite\` hook instead`);
          else (level.proxySetHeader ??= []).push([d.args[0] as string, d.args[1] as string, d]);
        }
        return true;
      }
      case "add_header": {
        const [name, value, always] = d.args;
        if (name === undefined || value === undefined || (always !== undefined && always !== "always") || d.args.length > 3) {
          this.#todo(d, path, "expected a header name, a value and maybe `always`");
        } else if (value.includes("$")) {
          this.#todo(d, path, "addHeader values are constants: set a header with variables in a `headerFilter` hook");
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
        if (d.args.length === 2 && name?.startsWith("$") && value !== undefined && !value.includes("$") && !Object.hasOwn(this.#vars, name.slice(1))) {
          this.#vars[name.slice(1)] = value;
          if (level.kind !== "http") this.#warn(d, path, `carried as the top-level vars.${name.slice(1)}: Portico's vars are global`);
        } else this.#todo(d, path, "set with variables, or set twice: compute it in a `rewrite` hook (ctx.vars for constants)");
        return true;
      }
      case "ssl_protocols": {
        const protocols = d.args.filter((p) => p === "TLSv1.2" || p === "TLSv1.3");
        if (protocols.length > 0) this.#config.sslProtocols = protocols;
        if (protocols.length !== d.args.length) this.#warn(d, path, "Portico offers TLSv1.2 and TLSv1.3 only; older versions were dropped");
        if (level.kind !== "http") this.#warn(d, path, "carried to the top-level sslProtocols: Portico sets it for every listener");
        return true;
      }
      case "ssl_ciphers":
        this.#config.sslCiphers = d.args.join(" ");
        if (level.kind !== "http") this.#warn(d, path, "carried to the top-level sslCiphers: Portico sets it for every listener");
        return true;
      case "location":
        this.#todo(d, path, "a location outside a server");
        return true;
      default:
        if (/_by_lua(_block|_file)?$/.test(d.name)) {
          const phase = d.name.replace(/_by_lua(_block|_file)?$/, "");
          this.#todo(d, path, `Lua: rewrite it as ${LUA_PHASES[phase] ?? "a hook or a plugin"} (docs/hooks.md)`);
          return true;
        }
        return false;
    }
  }

  /** Directives no level carries: ignored ones, and TODO for the rest. */
  #other(d: Directive, path: string[]): void {
    if (Object.hasOwn(IGNORED, d.name) || d.name.startsWith("ssl_stapling") || d.name.startsWith("gzip_")) {
      this.#notes.push({
        kind: "ignored",
        file: this.#file(d),
        line: d.line,
        directive: d.name,
        original: d.block ? `${d.name} { … }` : this.original(d),
        hint: IGNORED[d.name] || "not needed by Portico",
        path,
      });
      return;
    }
    if (/_by_lua(_block|_file)?$/.test(d.name)) {
      const phase = d.name.replace(/_by_lua(_block|_file)?$/, "");
      this.#todo(d, path, `Lua: rewrite it as ${LUA_PHASES[phase] ?? "a hook or a plugin"} (docs/hooks.md)`);
      return;
    }
    if (d.name.startsWith("lua_")) {
      this.#todo(d, path, "OpenResty setting: shared dicts become a plugin's state (env.keep) or Redis; package paths become imports");
      return;
    }
    const hints: Record<string, string> = {
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
    this.#todo(d, path, hints[d.name] ?? "unknown to the importer: no Portico equivalent was carried");
  }

  // ---------- http

  #http(directives: Directive[], level: Level): void {
    // Zones and upstreams first: servers refer to them whatever the order.
    for (const d of directives) {
      if (d.name === "limit_req_zone") this.#zone(d);
      else if (d.name === "upstream") this.#upstream(d);
    }
    for (const d of directives) {
      if (d.name === "limit_req_zone" || d.name === "upstream") continue;
      if (d.name === "server") this.#server(d, level);
      else if (this.#common(d, level)) continue;
      else this.#httpOnly(d, level);
    }
  }

  #httpOnly(d: Directive, level: Level): void {
    const single = d.args[0];
    switch (d.name) {
      case "keepalive_timeout": {
        if (single !== undefined && TIME_PATTERN.test(single)) this.#config.keepaliveTimeout = single;
        else this.#todo(d, level.path, "expected a time");
        return;
      }
      case "client_header_timeout":
        if (single !== undefined && TIME_PATTERN.test(single)) this.#config.clientHeaderTimeout = single;
        else this.#todo(d, level.path, "expected a time");
        return;
      case "large_client_header_buffers":
        this.#config.largeClientHeaderBuffers = d.args.join(" ");
        return;
      case "set_real_ip_from":
        if (single !== undefined && /^[0-9a-fA-F:.]+(\/\d+)?$/.test(single)) ((this.#config.trustedProxies ??= []) as string[]).push(single);
        else this.#todo(d, level.path, "Portico takes addresses and CIDRs only");
        return;
      case "real_ip_header":
        if (single === "proxy_protocol") this.#todo(d, level.path, "PROXY protocol is not supported");
        else if (single !== undefined) this.#config.realIpHeader = single;
        return;
      case "real_ip_recursive":
        this.#config.realIpRecursive = single === "on";
        return;
      default:
        this.#other(d, level.path);
    }
  }

  #zone(d: Directive): void {
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
      this.#todo(d, [], "expected limit_req_zone KEY zone=NAME:SIZE rate=Nr/s");
      return;
    }
    this.#zones.set(name, { key, rate, size, directive: d });
  }

  #upstream(d: Directive): void {
    const name = d.args[0];
    const path = ["upstreams", name ?? ""];
    if (d.args.length !== 1 || name === undefined || !/^[A-Za-z0-9_.-]+$/.test(name)) {
      this.#todo(d, ["upstreams"], "an upstream name of letters, digits, _ . -");
      return;
    }
    const servers: Record<string, Obj> = {};
    const upstream: Obj = {};
    for (const s of d.block ?? []) {
      const single = s.args[0];
      switch (s.name) {
        case "server": {
          const [address, ...params] = s.args;
          if (address === undefined || address.startsWith("unix:")) {
            this.#todo(s, path, "Portico reaches upstreams over TCP only");
            continue;
          }
          const hostPort = /:\d+$/.test(address) && !/^\[[^\]]*\]$/.test(address) ? address : `${address}:80`;
          const options: Obj = {};
          for (const param of params) {
            const [key, value] = param.split("=", 2) as [string, string | undefined];
            if (key === "weight" && value && /^\d+$/.test(value)) options.weight = Number(value);
            else if (key === "max_fails" && value && /^\d+$/.test(value)) options.maxFails = Number(value);
            else if (key === "fail_timeout" && value && TIME_PATTERN.test(value)) options.failTimeout = value;
            else if (key === "backup" && value === undefined) options.backup = true;
            else if (key === "down" && value === undefined) options.down = true;
            else this.#todo(s, path, `the server parameter "${param}" has no Portico equivalent`);
          }
          servers[hostPort] = options;
          break;
        }
        case "keepalive":
          if (single && /^\d+$/.test(single)) upstream.keepalive = Number(single);
          break;
        case "least_conn":
          upstream.loadBalancing = "leastConn";
          break;
        case "random":
          if (s.args.includes("two")) upstream.loadBalancing = "random2";
          else this.#todo(s, path, "random without `two`: Portico has random2 (power of two choices)");
          break;
        case "ip_hash":
          upstream.loadBalancing = "hash";
          upstream.hashKey = "$remote_addr";
          this.#warn(s, path, "carried as a consistent hash of $remote_addr (nginx's ip_hash hashes the first three octets of an IPv4 address)");
          break;
        case "hash":
          if (single === undefined) this.#todo(s, path, "hash needs a key");
          else {
            upstream.loadBalancing = "hash";
            upstream.hashKey = single;
            if (!s.args.includes("consistent")) this.#warn(s, path, "carried as a consistent hash (ketama); nginx's plain hash maps keys differently");
          }
          break;
        case "keepalive_timeout":
        case "keepalive_requests":
        case "keepalive_time":
        case "zone":
          break;
        default:
          this.#other(s, path);
      }
    }
    if (Object.keys(servers).length === 0) {
      this.#todo(d, ["upstreams"], "an upstream without a server Portico can reach");
      return;
    }
    const plain = Object.values(servers).every((options) => Object.keys(options).length === 0);
    this.#upstreams[name] = { servers: plain ? Object.keys(servers) : servers, ...upstream };
  }

  // ---------- server

  #server(d: Directive, http: Level): void {
    const directives = d.block ?? [];
    const names = directives.filter((s) => s.name === "server_name").flatMap((s) => s.args);
    const index = this.#servers.length + 1;
    let key = names.find((n) => n !== "") ?? `server${index}`;
    if (this.#servers.some((s) => s.key === key)) key = `${key}#${index}`;
    const out: Obj = {};
    const level = this.#newLevel("server", http, ["virtualHosts", key], out);
    const info: ServerInfo = { key, names, out, listens: [], isDefault: false, directive: d, redirectsToHttps: false };
    const locations: Obj = {};
    let serverReturn: Directive | undefined;
    for (const s of directives) {
      if (s.name === "server_name") continue;
      if (s.name === "listen") this.#listen(s, info, level.path);
      else if (s.name === "location") this.#location(s, level, locations, null);
      else if (s.name === "return") serverReturn = s;
      else if (s.name === "ssl_certificate" || s.name === "ssl_certificate_key") {
        const arg = s.args[0];
        if (s.args.length === 1 && arg !== undefined && !arg.includes("$") && !arg.startsWith("data:"))
          out[s.name === "ssl_certificate" ? "sslCertificate" : "sslCertificateKey"] = this.#path(arg);
        else this.#todo(s, level.path, "a certificate file without variables");
      } else if (s.name === "http2") out.http2 = s.args[0] === "on";
      else if (s.name === "ssl") this.#todo(s, level.path, "`ssl on` is obsolete: use `listen … ssl`");
      else if (!this.#common(s, level)) this.#other(s, level.path);
    }
    if (info.listens.length === 0) info.listens.push({ port: 80, ssl: false });
    if (serverReturn) {
      const value = this.#returnValue(serverReturn, level.path);
      if (value !== undefined) {
        if (Object.keys(locations).length > 0)
          this.#warn(serverReturn, level.path, "a server-level return answers every request: the server's locations never run in nginx, and were dropped");
        for (const key of Object.keys(locations)) delete locations[key];
        locations["/"] = { return: value };
        info.redirectsToHttps = /^30[1278] https:\/\/(\$host|\$server_name)\$request_uri$/.test(String(value));
      }
    }
    this.#levelPlugins(level, out);
    if (Object.keys(locations).length > 0) out.locations = locations;
    const ssl = info.listens.some((l) => l.ssl);
    const plain = info.listens.some((l) => !l.ssl);
    if (ssl && !plain) out.onlySSL = true;
    else if (ssl && plain) out.addSSL = true;
    this.#servers.push(info);
  }

  #listen(d: Directive, info: ServerInfo, path: string[]): void {
    const [address, ...params] = d.args;
    if (address === undefined || address.startsWith("unix:")) {
      this.#todo(d, path, "Portico listens on TCP only");
      return;
    }
    const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+|\*):)?(\d{1,5})$/.exec(address) ?? /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)()$/.exec(address);
    if (!match) {
      this.#todo(d, path, "a listen address Portico does not read");
      return;
    }
    const addr = match[1] === undefined || match[1] === "*" ? undefined : match[1];
    const port = match[2] ? Number(match[2]) : 80;
    let ssl = false;
    for (const param of params) {
      if (param === "default_server" || param === "default") info.isDefault = true;
      else if (param === "ssl") ssl = true;
      else if (param === "http2") info.out.http2 = true;
      else if (param === "proxy_protocol") this.#todo(d, path, "PROXY protocol is not supported");
      else if (!/^(reuseport|deferred|bind|ipv6only=\w+|backlog=\d+|rcvbuf=\S+|sndbuf=\S+|so_keepalive=\S+|fastopen=\d+)$/.test(param))
        this.#warn(d, path, `the listen parameter "${param}" was dropped`);
    }
    info.listens.push({ ...(addr !== undefined ? { addr } : {}), port, ssl });
  }

  /** `return CODE [TEXT|URL]` or `return URL` as Portico's string; undefined (and a TODO) when it cannot be. */
  #returnValue(d: Directive, path: string[]): string | number | undefined {
    const [first, second] = d.args;
    if (first === undefined || d.args.length > 2) {
      this.#todo(d, path, "expected return CODE [TEXT] or return URL");
      return undefined;
    }
    const unknown = this.#knownVariables(d.args.join(" "));
    if (unknown) {
      this.#todo(d, path, `$${unknown} is not a Portico variable: answer from a \`content\` hook instead`);
      return undefined;
    }
    if (second === undefined) {
      if (/^\d{3}$/.test(first)) return Number(first);
      if (/^(https?:\/\/|\$scheme)/.test(first)) return `302 ${first}`;
      this.#todo(d, path, "expected a status code or an http(s):// URL");
      return undefined;
    }
    if (!/^\d{3}$/.test(first)) {
      this.#todo(d, path, "expected a status code");
      return undefined;
    }
    // Portico strips one level of quotes, as nginx's parser did: quote whenever the text needs it.
    const quote = second === "" || /\s/.test(second) || /^['"]|['"]$/.test(second);
    return `${first} ${quote ? `'${second}'` : second}`;
  }

  // ---------- location

  #locationKey(d: Directive): string | null {
    const args = d.args;
    if (args.length === 2 && ["=", "~", "~*", "^~"].includes(args[0] as string)) return `${args[0]} ${args[1]}`;
    if (args.length !== 1) return null;
    const arg = args[0] as string;
    const glued = /^(=|\^~|~\*|~)(.+)$/.exec(arg);
    if (glued) return `${glued[1]} ${glued[2]}`;
    return arg;
  }

  #location(d: Directive, parent: Level, locations: Obj, parentLocation: { out: Obj; key: string } | null): void {
    const key = this.#locationKey(d);
    const parentPath = ["virtualHosts", ...parent.path.slice(1, 2), "locations"];
    if (key === null || key.startsWith("@")) {
      this.#todo(
        d,
        parent.path,
        key?.startsWith("@") ? "named locations (error_page, try_files targets) have no equivalent" : "a location key Portico does not read",
      );
      return;
    }
    if (Object.hasOwn(locations, key)) {
      this.#todo(d, parent.path, `a second location "${key}" in this server (nested locations are flattened)`);
      return;
    }
    // Inheritable options of an outer location carry into a flattened nested one.
    const out: Obj = parentLocation ? inheritedOptions(parentLocation.out) : {};
    const level = this.#newLevel("location", parent, [...parentPath, key], out);
    if (parentLocation) {
      this.#warn(
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
            this.#todo(s, level.path, "proxyPass takes an http(s):// URL without variables");
          } else if (answered) this.#todo(s, level.path, "a second way to answer in this location");
          else {
            out.proxyPass = url;
            answered = true;
          }
          break;
        }
        case "return": {
          const value = this.#returnValue(s, level.path);
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
          this.#other(s, level.path);
          break;
        default:
          if (/^content_by_lua/.test(s.name)) content = s;
          if (!this.#common(s, level)) this.#other(s, level.path);
      }
    }
    this.#effectiveHeaders(level, out);
    this.#levelPlugins(level, out);
    if (out.return === undefined && out.proxyPass === undefined) {
      const why = content ? content.name : statics.length > 0 ? "static files" : "nothing that answers was carried";
      out.return = `501 'not migrated from nginx: ${why}'`;
      if (!content && statics.length === 0) this.#todo(d, level.path, "this location has no proxy_pass or return: a placeholder return 501 was written");
    }
    for (const child of nested) this.#location(child, level, locations, { out, key });
  }

  /** proxy_set_header and add_header: a level's own list, else the nearest level's that has one (nginx). */
  #effectiveHeaders(level: Level, out: Obj): void {
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

  /** Plugins (basicAuth, limitReq, ipRestriction, compression) at the levels that set them, with nginx's inherited values. */
  #levelPlugins(level: Level, out: Obj): void {
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
        this.#todo(realm, level.path, "auth_basic needs auth_basic_user_file (a file name without variables)");
      } else if (realmText === undefined || /["\\\r\n$]/.test(realmText)) {
        this.#todo(realm, level.path, "a realm without quotes, backslashes or variables");
      } else {
        out.basicAuth = { htpasswdFile: this.#path(file.args[0]), realm: realmText };
      }
    }

    // limit_req (inherited only when the level sets none) + limit_req_status (inherited normally).
    if (level.limitReq || (level.limitReqStatus && nearest((l) => l.limitReq))) {
      const rules = nearest((l) => l.limitReq) ?? [];
      const status = nearest((l) => l.limitReqStatus);
      const [rule, ...more] = rules;
      for (const extra of more) this.#todo(extra, level.path, "Portico takes one limitReq per level: combine the zones, or add a limitCount");
      if (rule) {
        const conf = this.#limitReq(rule, level.path);
        if (conf) {
          // nginx refuses with 503 unless limit_req_status says otherwise; Portico's default is 429.
          const code = status?.args[0];
          conf.status = code && /^\d{3}$/.test(code) ? Number(code) : 503;
          out.limitReq = conf;
        }
      }
    }

    // allow / deny: first match wins in nginx; Portico has an allow list and a deny list.
    if (level.access) this.#ipRestriction(level, out);

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

  #limitReq(d: Directive, path: string[]): Obj | null {
    const conf: Obj = {};
    let zoneName: string | undefined;
    for (const param of d.args) {
      const [key, value] = param.split("=", 2) as [string, string | undefined];
      if (key === "zone") zoneName = value;
      else if (key === "burst" && value && /^\d+$/.test(value)) conf.burst = Number(value);
      else if (key === "delay" && value && /^\d+$/.test(value)) conf.delay = Number(value);
      else if (key === "nodelay" && value === undefined) conf.nodelay = true;
      else {
        this.#todo(d, path, `the limit_req parameter "${param}" has no Portico equivalent`);
        return null;
      }
    }
    const zone = zoneName === undefined ? undefined : this.#zones.get(zoneName);
    if (!zone) {
      this.#todo(d, path, `no limit_req_zone named "${zoneName ?? ""}"`);
      return null;
    }
    const result: Obj = { rate: zone.rate, ...conf };
    if (zone.key !== "$binary_remote_addr" && zone.key !== "$remote_addr") {
      if (/^(\$(\{)?(http_[a-z0-9_]+|arg_[a-z0-9_]+|uri|host|server_name|consumer_name|remote_addr|binary_remote_addr)\}?[^$]*)+$/i.test(zone.key))
        result.key = zone.key;
      else {
        this.#todo(zone.directive, path, `the zone key ${zone.key} is not one limitReq reads: use key: { hook } in limitReq`);
        return null;
      }
    }
    // nginx: "One megabyte zone can keep about 16 thousand 64-byte states."
    if (zone.size !== null) result.maxKeys = Math.max(1, Math.floor(zone.size / 64));
    return result;
  }

  #ipRestriction(level: Level, out: Obj): void {
    const rules = level.access ?? [];
    const path = level.path;
    const deny: string[] = [];
    const allow: string[] = [];
    let stage: "deny" | "allow" | "end" = "deny";
    let last: "allow all" | "deny all" | null = null;
    for (const rule of rules) {
      const target = rule.args[0];
      if (stage === "end" || target === undefined || target.startsWith("unix:")) {
        this.#todo(rule, path, "rules after `all`, or unix sockets, have no equivalent");
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
          this.#todo(r, path, "allow and deny interleaved: nginx applies the first match; Portico's ipRestriction has one allow and one deny list");
        return;
      }
    }
    if (last === "deny all" && allow.length === 0) {
      // nginx's return runs before access: a location's own return still answers.
      if (level.kind !== "location") this.#todo(rules.at(-1) as Directive, path, "`deny all` for a whole server: give each location return: 403");
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

  // ---------- output

  #assemble(http: Level): Obj {
    // The classic pair: a plain server that only redirects to https, and the TLS server of the same names.
    for (const plain of this.#servers.filter((s) => s.redirectsToHttps && s.listens.every((l) => !l.ssl))) {
      const tls = this.#servers.find((s) => s !== plain && s.listens.some((l) => l.ssl) && plain.names.every((n) => s.names.includes(n)));
      if (!tls) continue;
      delete tls.out.onlySSL;
      tls.out.forceSSL = true;
      tls.listens.push(...plain.listens);
      tls.isDefault ||= plain.isDefault;
      this.#servers.splice(this.#servers.indexOf(plain), 1);
      if (tls.key.startsWith(`${plain.key}#`)) {
        for (const note of this.#notes) if (note.path[0] === "virtualHosts" && note.path[1] === tls.key) note.path[1] = plain.key;
        tls.key = plain.key;
      }
      this.#note("warning", plain.directive, ["virtualHosts", tls.key], "the plain server that redirects to https became forceSSL on the TLS one");
    }
    const listens = new Map<string, string | number | Obj>();
    const seenNames = new Map<string, string>();
    const virtualHosts: Obj = {};
    const defaults = this.#servers.filter((s) => s.isDefault);
    for (const server of this.#servers) {
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
          this.#warn(
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
    if (new Set(this.#servers.map((s) => s.listens.map((l) => `${l.addr}:${l.port}:${l.ssl}`).join())).size > 1) {
      const first = this.#servers[0];
      if (first)
        this.#warn(first.directive, ["virtualHosts"], "the servers listen on different addresses: in Portico every virtual host answers on every listener");
    }
    const config: Obj = {};
    const listenValues = [...listens.values()];
    config.listen = listenValues.length === 1 ? listenValues[0] : listenValues;
    if (Object.keys(this.#upstreams).length > 0) config.upstreams = this.#upstreams;
    if (Object.keys(this.#vars).length > 0) config.vars = this.#vars;
    this.#effectiveTop(http, config);
    config.virtualHosts = virtualHosts;
    if (Object.keys(virtualHosts).length === 0) {
      config.virtualHosts = { localhost: { default: true, locations: { "/": { return: 404 } } } };
      this.#notes.push({
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

  #effectiveTop(http: Level, config: Obj): void {
    // The http level's own options are in this.#config (http.out): add its plugins, then copy.
    this.#levelPlugins(http, http.out);
    // nginx's real_ip_recursive is off by default, Portico's on.
    if (http.out.trustedProxies !== undefined && http.out.realIpRecursive === undefined) http.out.realIpRecursive = false;
    for (const [key, value] of Object.entries(http.out)) config[key] = value;
  }
}

/** Options of an outer location that a nested one inherits (not its way of answering). */
function inheritedOptions(out: Obj): Obj {
  const { proxyPass: _p, return: _r, proxySetHeader: _s, addHeader: _a, proxyWebsockets: _w, ...rest } = out;
  return structuredClone(rest);
}

/** The directory nginx resolves relative paths against: the main file's. */
export function nginxPrefix(file: string): string {
  return dirname(file);
}
