import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { convertNginx, type Directive, NginxParseError, parseNginxFile, parseNginxText } from "../../src/import/nginx/index.js";

const shape = (list: Directive[]): unknown[] =>
  list.map((d) => [d.name, d.args, d.line, ...(d.block ? [shape(d.block)] : []), ...(d.lua !== undefined ? [d.lua] : [])]);

function parseError(text: string): NginxParseError {
  try {
    parseNginxText(text, "t.conf");
  } catch (error) {
    assert.ok(error instanceof NginxParseError, String(error));
    assert.equal(error.code, "PTC_ERR_IMPORT_PARSE");
    return error;
  }
  assert.fail("expected a parse error");
}

test("directives, blocks, comments and line numbers", () => {
  const text = "# top comment\nworker_processes 4; # trailing\nhttp {\n  server {\n    listen 80 default_server;\n  }\n}\n";
  assert.deepEqual(shape(parseNginxText(text, "t.conf")), [
    ["worker_processes", ["4"], 2],
    ["http", [], 3, [["server", [], 4, [["listen", ["80", "default_server"], 5]]]]],
  ]);
});

test("quoted strings with escapes, # and braces inside words and strings, braced variables", () => {
  const text = [
    String.raw`add_header X "a \"b\" c\td" always;`,
    String.raw`return 200 'it\'s; {ok} # not a comment';`,
    "set $a a#b}c;",
    'proxy_set_header X-Path "$' + '{uri}x";',
    "rewrite ^/(.*)$ /x/$" + "{1}y break;",
    String.raw`location ~ "^/a\d{2}$" { }`,
  ].join("\n");
  assert.deepEqual(shape(parseNginxText(text, "t.conf")), [
    ["add_header", ["X", 'a "b" c\td', "always"], 1],
    ["return", ["200", "it's; {ok} # not a comment"], 2],
    ["set", ["$a", "a#b}c"], 3],
    ["proxy_set_header", ["X-Path", "$" + "{uri}x"], 4],
    ["rewrite", ["^/(.*)$", "/x/$" + "{1}y", "break"], 5],
    ["location", ["~", String.raw`^/a\d{2}$`], 6, []],
  ]);
});

test("a backslash escapes only \\\" \\' \\\\ \\t \\r \\n; others stay", () => {
  const [d] = parseNginxText(String.raw`location ~ ^/a\.b\\c\n$ { }`, "t.conf");
  assert.deepEqual(d?.args, ["~", "^/a\\.b\\c\n$"]);
});

test("*_by_lua_block keeps the Lua as written, braces in strings, long strings and comments included", () => {
  const lua = `
    local t = { a = "}", b = '{' } -- a } in a comment
    local s = [[ } ]] --[==[ } ]==]
    if x then ngx.say("{") end
  `;
  const list = parseNginxText(`location / {\n  content_by_lua_block {${lua}}\n  return 200;\n}\n`, "t.conf");
  assert.deepEqual(shape(list), [
    [
      "location",
      ["/"],
      1,
      [
        ["content_by_lua_block", [], 2, lua],
        ["return", ["200"], 7],
      ],
    ],
  ]);
});

test("source spans cover a directive from its name to its ; or }", () => {
  const text = "a 1;\nserver {\n  listen 80;\n}\n";
  const [a, server] = parseNginxText(text, "t.conf");
  assert.equal(text.slice(a?.start, (a?.end ?? 0) + 1), "a 1;");
  assert.equal(text.slice(server?.start, (server?.end ?? 0) + 1), "server {\n  listen 80;\n}");
});

test("syntax errors name the file and line", () => {
  assert.match(parseError("server {\n  listen 80\n}\n").message, /^t\.conf:3: unexpected "}": "listen" is missing its ";"/);
  assert.match(parseError("server {\n  listen 80;\n").message, /^t\.conf:3: unexpected end of file, expecting "}" to close "server" \(line 1\)/);
  assert.match(parseError("listen 80;\n}\n").message, /^t\.conf:2: unexpected "}"/);
  assert.match(parseError("a 1;\n;\n").message, /^t\.conf:2: unexpected ";"/);
  assert.match(parseError('a 1;\nreturn 200 "x;\n\n').message, /^t\.conf:2: unexpected end of file: the string opened with " is not closed/);
  assert.match(parseError('return 200 "x"y;').message, /^t\.conf:1: unexpected "y" after a quoted string/);
  assert.match(parseError("a 1;\nb 2").message, /^t\.conf:2: unexpected end of file, expecting ";" or "}" after "b"/);
  assert.match(parseError("location / {\n content_by_lua_block {\n  x = '}'\n").message, /^t\.conf:2: unexpected end of file: the Lua block is not closed/);
});

test("include: globs sorted, relative to the main file's directory, lines kept per file, missing file an error", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "portico-nginx-parse-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "conf.d"));
  mkdirSync(join(dir, "snippets"));
  writeFileSync(join(dir, "nginx.conf"), "http {\n  include conf.d/*.conf;\n  include conf.d/none-*.conf;\n}\n");
  writeFileSync(join(dir, "conf.d", "b.conf"), "server {\n  server_name b;\n}\n");
  writeFileSync(join(dir, "conf.d", "a.conf"), "\nserver {\n  include snippets/common.conf;\n}\n");
  writeFileSync(join(dir, "conf.d", "skip.txt"), "not included;\n");
  writeFileSync(join(dir, "snippets", "common.conf"), "proxy_set_header Host $host;\n");
  const [http] = parseNginxFile(join(dir, "nginx.conf"));
  assert.deepEqual(
    http?.block?.map((d) => [d.name, d.file.slice(dir.length + 1), d.line, d.block?.map((x) => [x.name, x.file.slice(dir.length + 1), x.line])]),
    [
      ["server", "conf.d/a.conf", 2, [["proxy_set_header", "snippets/common.conf", 1]]],
      ["server", "conf.d/b.conf", 1, [["server_name", "conf.d/b.conf", 2]]],
    ],
  );
  writeFileSync(join(dir, "broken.conf"), "events {}\ninclude missing.conf;\n");
  assert.throws(() => parseNginxFile(join(dir, "broken.conf")), /broken\.conf:2: include: .*missing\.conf does not exist/);
  writeFileSync(join(dir, "loop.conf"), "include loop.conf;\n");
  assert.throws(() => parseNginxFile(join(dir, "loop.conf")), /loop\.conf:1: include: .*loop\.conf includes itself/);
});

function convert(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "portico-nginx-convert-"));
  try {
    const file = join(dir, "t.conf");
    writeFileSync(file, text);
    return convertNginx(parseNginxFile(file), { prefix: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("convert: listen forms, server_name, default_server, modifiers (glued too), forceSSL pair", () => {
  const { config } = convert(`
server { listen 80; server_name example.com; return 301 https://$host$request_uri; }
server {
  listen 443 ssl http2 default_server; listen [::]:443 ssl;
  server_name example.com www.example.com;
  ssl_certificate /etc/ssl/c.pem; ssl_certificate_key /etc/ssl/k.pem;
  location =/a { return 204; }
  location ^~ /b/ { return 200 b; }
  location ~* \\.php$ { return 403; }
}
server { listen 127.0.0.1:8080; server_name _; location / { return 404; } }
`);
  assert.deepEqual(config.listen, [{ port: 443, ssl: true }, { addr: "::", port: 443, ssl: true }, 80, "127.0.0.1:8080"]);
  const hosts = config.virtualHosts as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(hosts), ["example.com", "_"]);
  assert.equal(hosts["example.com"]?.forceSSL, true);
  assert.equal(hosts["example.com"]?.default, true);
  assert.deepEqual(hosts["example.com"]?.serverAliases, ["www.example.com"]);
  assert.equal(hosts["example.com"]?.sslCertificate, "/etc/ssl/c.pem");
  assert.deepEqual(Object.keys(hosts["example.com"]?.locations as object), ["= /a", "^~ /b/", "~* \\.php$"]);
});

test("convert: proxy_set_header and add_header inherit only when a level sets none; Upgrade/Connection become proxyWebsockets", () => {
  const { config } = convert(`
server {
  proxy_set_header X-A a; add_header X-H h;
  location /one/ { proxy_pass http://127.0.0.1:1; }
  location /two/ { proxy_pass http://127.0.0.1:1; proxy_set_header X-B b; add_header X-I i always; }
  location /ws { proxy_pass http://127.0.0.1:1; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; }
}`);
  const locations = (config.virtualHosts as Record<string, { locations: Record<string, Record<string, unknown>> }>).server1?.locations;
  assert.deepEqual(locations?.["/one/"], { proxyPass: "http://127.0.0.1:1", proxySetHeader: { "X-A": "a" }, addHeader: { "X-H": "h" } });
  assert.deepEqual(locations?.["/two/"], { proxyPass: "http://127.0.0.1:1", proxySetHeader: { "X-B": "b" }, addHeader: { "X-I": "i always" } });
  assert.deepEqual(locations?.["/ws"], { proxyPass: "http://127.0.0.1:1", proxyWebsockets: true, addHeader: { "X-H": "h" } });
});

test("convert: upstream options and balancing; unknown directives and variables become TODOs", () => {
  const { config, notes } = convert(`
upstream u { least_conn; server 10.0.0.1 weight=2 max_fails=3 fail_timeout=5s; server 10.0.0.2:81 backup; server unix:/x.sock; }
server {
  location / { proxy_pass http://u; proxy_set_header X-T $request_time; rewrite ^ /x; }
  location @fallback { return 500; }
}`);
  assert.deepEqual(config.upstreams, {
    u: { servers: { "10.0.0.1:80": { weight: 2, maxFails: 3, failTimeout: "5s" }, "10.0.0.2:81": { backup: true } }, loadBalancing: "leastConn" },
  });
  assert.deepEqual(
    notes.filter((n) => n.kind === "todo").map((n) => [n.line, n.directive]),
    [
      [2, "server"],
      [4, "proxy_set_header"],
      [4, "rewrite"],
      [5, "location"],
    ],
  );
});
