// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/**
 * `portico routes -c FILE [METHOD] URL [--host H] [--json]`: which virtual host and location a
 * request lands in, and why, in nginx's terms; human output and JSON.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { FIXTURES, REFERENCE, runCli } from "../helpers/cli.js";

const ROUTES = path.join(FIXTURES, "routes.yaml");

interface Explanation {
  virtualHost: string | null;
  virtualHostReason: string;
  path: string | null;
  location: { key: string; handler: string; hooks: string[]; proxyPass?: string; return?: string; fastPath: boolean } | null;
  reason: string;
  steps: string[];
  upstreamUrl?: string;
  redirectTo?: string;
  status?: number;
}

async function human(file: string, ...args: string[]): Promise<string> {
  const result = await runCli(["routes", "-c", file, ...args]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  return result.stdout;
}

async function json(file: string, ...args: string[]): Promise<Explanation> {
  const result = await runCli(["routes", "-c", file, ...args, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Explanation;
}

/** The value of one "  label   value" row of the human output. */
function row(output: string, label: string): string {
  const line = output.split("\n").find((l) => l.startsWith(`  ${label.padEnd(13)} `));
  assert.ok(line, `no "${label}" row in:\n${output}`);
  return line.slice(2 + 13 + 1);
}

describe("the reference setup", { concurrency: true }, () => {
  test("/proxy/rewrite/anything: the longest prefix, the upstream URL with nginx's double slash, the hook", async () => {
    const out = await human(REFERENCE, "GET", "/proxy/rewrite/anything");
    assert.equal(out.split("\n")[0], "GET /proxy/rewrite/anything");
    assert.equal(row(out, "location"), "/proxy/rewrite");
    assert.equal(row(out, "why"), '"/proxy/rewrite" is the longest matching prefix and no regex matches.');
    assert.match(out, /- prefix: "\/proxy\/rewrite" matches \(the longest\)\n\s+- prefix: "\/proxy" matches\n\s+- prefix: "\/" matches/);
    assert.equal(row(out, "handler"), "proxy to http://127.0.0.1:9000//anything");
    assert.equal(row(out, "hooks"), "headerFilter: ./post-created.js");
    assert.equal(row(out, "phases"), 'headerFilter (location "/proxy/rewrite" headerFilter (./post-created.js))');

    const data = await json(REFERENCE, "POST", "/proxy/rewrite/anything?x=1");
    assert.equal(data.virtualHost, "localhost");
    assert.equal(data.location?.key, "/proxy/rewrite");
    assert.equal(data.location?.handler, "proxy");
    assert.deepEqual(data.location?.hooks, ["headerFilter: ./post-created.js"]);
    assert.equal(data.upstreamUrl, "http://127.0.0.1:9000//anything?x=1");
    assert.match(data.reason, /longest matching prefix/);
  });

  test("the upstream URL follows ${env:UPSTREAM_URL}", async () => {
    const result = await runCli(["routes", "-c", REFERENCE, "/proxy/anything", "--json"], { env: { UPSTREAM_URL: "http://127.0.0.1:7777/base/" } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as Explanation).upstreamUrl, "http://127.0.0.1:7777/base//anything");
  });

  test("/ answers with its return, on the direct path", async () => {
    const out = await human(REFERENCE, "/");
    assert.equal(out.split("\n")[0], "GET /");
    assert.equal(row(out, "location"), "/");
    assert.equal(row(out, "handler"), "return 200 'Hello World!'");
    assert.equal(row(out, "hooks"), "none");
    assert.equal(row(out, "phases"), "none: straight to the answer, no request context");
    const data = await json(REFERENCE, "GET", "/");
    assert.equal(data.location?.handler, "return");
    assert.equal(data.location?.return, "200 'Hello World!'");
    assert.equal(data.upstreamUrl, undefined);
  });

  test("/version runs its content hook", async () => {
    const data = await json(REFERENCE, "/version");
    assert.equal(data.location?.handler, "content");
    assert.deepEqual(data.location?.hooks, ["content: ./version.js"]);
  });

  test("a Host that no server name matches goes to the default host, and says so", async () => {
    const out = await human(REFERENCE, "/", "--host", "unknown.example");
    assert.equal(out.split("\n")[0], "GET / (Host: unknown.example)");
    assert.match(row(out, "virtual host"), /^localhost {2}\(Host "unknown\.example" goes to .*no server name matched, so the default host serves it\.\)$/);
    const named = await json(REFERENCE, "/", "--host", "LOCALHOST:8080");
    assert.equal(named.virtualHost, "localhost");
    assert.match(named.virtualHostReason, /exact server name "localhost"/);
  });

  test("a path that climbs above / is a 400", async () => {
    const out = await human(REFERENCE, "/../x");
    assert.equal(row(out, "path"), "(invalid)");
    assert.equal(row(out, "location"), "none: 400 Bad Request");
    assert.match(row(out, "why"), /does not normalise.*: 400$/);
    const data = await json(REFERENCE, "/../x");
    assert.equal(data.status, 400);
    assert.equal(data.location, null);
    assert.equal(data.path, null);
  });

  test("an invalid Host is a 400 too", async () => {
    const out = await human(REFERENCE, "/", "--host", "bad host");
    assert.equal(row(out, "virtual host"), "none: 400 Bad Request");
    const data = await json(REFERENCE, "/", "--host", "a..b");
    assert.equal(data.status, 400);
    assert.equal(data.virtualHost, null);
  });

  test("a normalised path is shown as matched", async () => {
    const data = await json(REFERENCE, "/proxy/./rewrite/%61nything");
    assert.equal(data.path, "/proxy/rewrite/anything");
    assert.equal(data.location?.key, "/proxy/rewrite");
  });
});

describe("nginx's precedence, explained", { concurrency: true }, () => {
  test("an exact location ends the search", async () => {
    const out = await human(ROUTES, "/");
    assert.equal(row(out, "location"), "= /");
    assert.equal(row(out, "why"), '"= /" is an exact match for "/", which nginx uses before any prefix or regex.');
    assert.equal(row(out, "handler"), "return 200 'exact root'");
  });

  test("a plain prefix when nothing else matches", async () => {
    const data = await json(ROUTES, "/other");
    assert.equal(data.location?.key, "/");
    assert.equal(data.reason, '"/" is the longest matching prefix and no regex matches.');
    assert.deepEqual(data.steps, [
      'exact: no location "= /other"',
      'prefix: "/" matches (the longest)',
      'regex: "~ \\.(png|jpg)$" does not match',
      'regex: "~* \\.php$" does not match',
    ]);
  });

  test("a matching regex wins over the longest prefix", async () => {
    const out = await human(ROUTES, "/images/a.png");
    assert.equal(row(out, "location"), "~ \\.(png|jpg)$");
    assert.equal(row(out, "why"), '"~ \\.(png|jpg)$" is the first regex that matches; a matching regex wins over the longest prefix "/images/".');
    assert.match(out, /- prefix: "\/images\/" matches \(the longest\)/);
  });

  test("… unless that prefix has ^~", async () => {
    const out = await human(ROUTES, "/static/a.png");
    assert.equal(row(out, "location"), "^~ /static/");
    assert.equal(row(out, "why"), '"^~ /static/" is the longest matching prefix and its "^~" turns off regex matching.');
    assert.match(out, /- regex: skipped, the longest prefix "\^~ \/static\/" has "\^~"/);
  });

  test("the longest prefix serves when no regex matches", async () => {
    const data = await json(ROUTES, "/images/readme.txt");
    assert.equal(data.location?.key, "/images/");
    assert.equal(data.reason, '"/images/" is the longest matching prefix and no regex matches.');
  });

  test("~* ignores case; the query goes upstream unchanged; hooks and their phases are shown", async () => {
    const out = await human(ROUTES, "POST", "/x.PHP?a=1");
    assert.equal(out.split("\n")[0], "POST /x.PHP?a=1");
    assert.equal(row(out, "location"), "~* \\.php$");
    assert.equal(row(out, "handler"), "proxy to http://127.0.0.1:9000/x.PHP?a=1");
    assert.equal(row(out, "hooks"), "access: inline snippet");
    assert.equal(row(out, "phases"), String.raw`access (location "~* \\.php$" access (inline snippet))`);
  });

  test("server names: exact and wildcard; a location that does not exist there is a 404", async () => {
    const exact = await json(ROUTES, "/v1/users", "--host", "api.example.com");
    assert.equal(exact.virtualHost, "api");
    assert.equal(exact.upstreamUrl, "http://127.0.0.1:9001/users");
    const wildcard = await human(ROUTES, "/images/readme", "--host", "v1.api.example.com");
    assert.match(row(wildcard, "virtual host"), /^api {2}\(.*leading wildcard server name "\*\.api\.example\.com"\.\)$/);
    assert.equal(row(wildcard, "location"), "none: 404 Not Found");
    const data = await json(ROUTES, "/images/readme", "--host", "v1.api.example.com");
    assert.equal(data.status, 404);
  });

  test("a proxied location's path without its slash redirects, as nginx does", async () => {
    const out = await human(ROUTES, "/v1", "--host", "api.example.com");
    assert.equal(row(out, "redirect"), "301 to /v1/");
    const data = await json(ROUTES, "/v1", "--host", "api.example.com");
    assert.equal(data.status, 301);
    assert.equal(data.redirectTo, "/v1/");
  });
});

describe("mistakes", { concurrency: true }, () => {
  test("an invalid config: exit 1 with the formatted errors", async () => {
    const file = path.join(FIXTURES, "bad", "misspelt-top.yaml");
    const result = await runCli(["routes", "-c", file, "/"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `${file}:2:1  virtualHost  unknown field "virtualHost": did you mean "virtualHosts"?\n`);
  });

  test("no URL: exit 2", async () => {
    const result = await runCli(["routes", "-c", REFERENCE]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /give the URL to explain/);
  });
});
