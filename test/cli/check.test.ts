// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/**
 * `portico check -c FILE`, like `nginx -t`: exit 0 and warnings for a valid config; exit 1 and
 * every error on its own line as `FILE:LINE:COL  path.to.field  message`, for each kind of
 * mistake, with the position asserted exactly.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { FIXTURES, lines, REFERENCE, runCli } from "../helpers/cli.js";

const bad = (name: string) => path.join(FIXTURES, "bad", name);

/** [line, column, path, message]: the message as a substring or a pattern. */
type Expected = [number, number, string, string | RegExp];

async function expectErrors(file: string, expected: Expected[], env: Record<string, string> = {}): Promise<void> {
  const result = await runCli(["check", "-c", file], { env });
  assert.equal(result.code, 1, `exit code of check ${file}\n${result.stderr}`);
  assert.equal(result.stdout, "", "nothing on stdout for an invalid config");
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  const got = lines(result.stderr);
  assert.equal(got.length, expected.length, `one line per error, got:\n${result.stderr}`);
  expected.forEach(([line, column, field, message], index) => {
    const prefix = `${file}:${line}:${column}  ${field}  `;
    const actual = got[index] as string;
    assert.ok(actual.startsWith(prefix), `line ${index + 1}:\n  expected ${prefix}…\n  got      ${actual}`);
    const text = actual.slice(prefix.length);
    if (typeof message === "string") assert.ok(text.includes(message), `"${text}" should include "${message}"`);
    else assert.match(text, message);
  });
}

describe("valid configs", { concurrency: true }, () => {
  for (const name of ["basic.yaml", "basic.json", "basic.ts", "basic.mjs", "routes.yaml"]) {
    test(`${name} is valid`, async () => {
      const file = path.join(FIXTURES, name);
      const result = await runCli(["check", "-c", file]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${file}: the configuration is valid\n`);
      assert.equal(result.stderr, "");
    });
  }

  test("a relative path is reported as given", async () => {
    const result = await runCli(["check", "-c", "test/fixtures/configs/basic.yaml"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "test/fixtures/configs/basic.yaml: the configuration is valid\n");
  });

  test("the reference setup is valid and warns about the double slash of /proxy and /proxy/rewrite", async () => {
    const result = await runCli(["check", "-c", REFERENCE]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${REFERENCE}: the configuration is valid (2 warnings)\n`);
    const warnings = lines(result.stderr);
    assert.equal(warnings.length, 2, result.stderr);
    assert.match(
      warnings[0] as string,
      /^.*portico\.yaml:\d+:\d+ {2}virtualHosts\.localhost\.locations\.\/proxy\.proxyPass {2}warning: "\/proxy\/x" goes upstream as "\/\/x"/,
    );
    assert.match(
      warnings[1] as string,
      /^.*portico\.yaml:\d+:\d+ {2}virtualHosts\.localhost\.locations\.\/proxy\/rewrite\.proxyPass {2}warning: "\/proxy\/rewrite\/x" goes upstream as "\/\/x"/,
    );
    assert.ok(warnings[0]?.startsWith(`${REFERENCE}:16:20  `), warnings[0]);
    assert.ok(warnings[1]?.startsWith(`${REFERENCE}:18:20  `), warnings[1]);
  });

  test("warnings are printed in order of position and do not fail the check", async () => {
    const file = path.join(FIXTURES, "warnings.yaml");
    const result = await runCli(["check", "-c", file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${file}: the configuration is valid (4 warnings)\n`);
    assert.deepEqual(
      lines(result.stderr).map((line) => line.slice(file.length).split("  ").slice(0, 2).join("  ")),
      [
        ":4:3  upstreams.unused",
        ":13:11  virtualHosts.localhost.locations./.proxySetHeader",
        ":15:20  virtualHosts.localhost.locations./app.proxyPass",
        ":17:20  virtualHosts.localhost.locations./named/.proxyPass",
      ],
    );
    assert.match(result.stderr, /upstream "unused" is not used by any proxyPass/);
    assert.match(result.stderr, /proxySetHeader {2}warning: has no effect without proxyPass/);
    assert.match(result.stderr, /no upstream is named "backend", so it is looked up as a host name on port 80/);
  });

  test("an unset variable with a default takes the default; a set one its value", async () => {
    const file = path.join(FIXTURES, "basic.yaml");
    const ok = await runCli(["check", "-c", file], { env: { PORTICO_TEST_LISTEN: "127.0.0.1:8181", PORTICO_TEST_UPSTREAM: "http://127.0.0.1:9/" } });
    assert.equal(ok.code, 0, ok.stderr);
    const wrong = await runCli(["check", "-c", file], { env: { PORTICO_TEST_LISTEN: "not-a-port", PORTICO_TEST_UPSTREAM: "ftp://x" } });
    assert.equal(wrong.code, 1);
    assert.ok(lines(wrong.stderr)[0]?.startsWith(`${file}:3:9  listen  expected a port`), wrong.stderr);
  });
});

describe("syntax", { concurrency: true }, () => {
  test("YAML: an unclosed string, at its opening quote", () =>
    expectErrors(bad("yaml-syntax.yaml"), [[6, 17, "(root)", 'YAML syntax error: the string that starts here has no closing "']]));

  test("YAML: a badly indented key, at the key", () =>
    expectErrors(bad("yaml-indent.yaml"), [[7, 6, "(root)", "YAML syntax error: All mapping items must start at the same column"]]));

  test("JSON: a trailing comma, which YAML would let through", () =>
    expectErrors(bad("json-syntax.json"), [[6, 31, "(root)", "JSON syntax error: trailing comma: JSON does not allow one before }"]]));

  test("JSON: a comment", () => expectErrors(bad("json-comment.json"), [[2, 28, "(root)", "JSON syntax error: JSON has no comments"]]));

  test("JSON: a file cut short", () =>
    expectErrors(bad("json-truncated.json"), [[5, 1, "(root)", 'JSON syntax error: unexpected end of the file: expected "," or "}"']]));

  test("duplicate keys in YAML, each at its second occurrence, with the line of the first", () =>
    expectErrors(bad("duplicate-keys.yaml"), [
      [9, 7, "virtualHosts.localhost.locations./", 'duplicate key "/": it is already set on line 5; keep one'],
      [11, 1, "listen", 'duplicate key "listen": it is already set on line 1; keep one'],
    ]));

  test("duplicate keys in JSON", () =>
    expectErrors(bad("duplicate-keys.json"), [
      [5, 44, "virtualHosts.localhost.locations./.return", 'duplicate key "return": it is already set on line 5'],
      [6, 7, "virtualHosts.localhost.default", 'duplicate key "default": it is already set on line 4'],
    ]));

  test("a JavaScript config that throws, at the throw", () =>
    expectErrors(bad("module-throws.mjs"), [[2, 31, "(root)", "the module threw while loading: PORT is not a number"]]));
});

describe("misspelt keys get a did-you-mean, at every level", { concurrency: true }, () => {
  test("YAML", () =>
    expectErrors(bad("misspelt.yaml"), [
      [1, 1, "lisen", 'unknown field "lisen": did you mean "listen"?'],
      [5, 5, "virtualHosts.localhost.locatons", 'unknown field "locatons": did you mean "locations"?'],
      [11, 9, "virtualHosts.other.locations./.retrun", 'unknown field "retrun": did you mean "return"?'],
      [13, 9, "virtualHosts.other.locations./proxy.proxy_pass", 'unknown field "proxy_pass": did you mean "proxyPass"?'],
      [15, 9, "virtualHosts.other.locations./proxy2.proxypass", 'unknown field "proxypass": did you mean "proxyPass"?'],
      [17, 9, "virtualHosts.other.locations./hook.contnet", 'unknown field "contnet": did you mean "content"?'],
    ]));

  test("virtualHost for virtualHosts: one line, not a second one saying virtualHosts is missing", () =>
    expectErrors(bad("misspelt-top.yaml"), [[2, 1, "virtualHost", 'unknown field "virtualHost": did you mean "virtualHosts"?']]));

  test("JSON", () =>
    expectErrors(bad("misspelt.json"), [
      [6, 16, "virtualHosts.localhost.locations./.retrun", 'unknown field "retrun": did you mean "return"?'],
      [7, 17, "virtualHosts.localhost.locations./p.proxy_pass", 'unknown field "proxy_pass": did you mean "proxyPass"?'],
    ]));

  test("a TypeScript module, positioned by its text", () =>
    expectErrors(bad("misspelt.mts"), [
      [7, 16, "virtualHosts.localhost.locations./.retrun", 'unknown field "retrun": did you mean "return"?'],
      [8, 20, "virtualHosts.localhost.locations./api/.proxy_pass", 'unknown field "proxy_pass": did you mean "proxyPass"?'],
    ]));
});

describe("wrong values", { concurrency: true }, () => {
  test("YAML: every wrong value of the file, in order, at the value", () =>
    expectErrors(bad("wrong-types.yaml"), [
      [1, 10, "listen[0]", 'expected a port, "host:port" or "[::1]:port", got the string "abc"'],
      [1, 15, "listen[1]", "must be at most 65535, got number 70000"],
      [1, 22, "listen[2]", "port 70000 is out of range (0-65535)"],
      [2, 20, "clientMaxBodySize", 'expected an nginx size such as "8k", "1m" or "1g", got the string "1x"'],
      [3, 11, "logLevel", 'expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got the string "verbose"'],
      [6, 20, "virtualHosts.localhost.serverAliases", 'expected a list, got the string "www.example.com"'],
      [10, 27, "virtualHosts.localhost.locations./.proxyReadTimeout", 'expected an nginx time such as "500ms", "5s" or "1m", got the string "fast"'],
      [11, 35, "virtualHosts.localhost.locations./.recommendedProxySettings", 'expected true or false, got the string "yes"'],
      [13, 11, 'virtualHosts.localhost.locations./.proxySetHeader["Bad Header"]', 'the key "Bad Header" is refused: not a valid header name'],
      [15, 17, "virtualHosts.localhost.locations./b.return", "expected a string or a number, got a list"],
    ]));

  test("JSON", () =>
    expectErrors(bad("wrong-types.json"), [
      [2, 13, "listen", 'expected a port, "host:port" or "[::1]:port", got the string "abc"'],
      [3, 24, "clientMaxBodySize", 'expected an nginx size such as "8k", "1m" or "1g"'],
      [7, 74, "virtualHosts.localhost.locations./.proxyReadTimeout", 'expected an nginx time such as "500ms", "5s" or "1m"'],
    ]));

  test("a TypeScript config with defineConfig (the type checker flags it too), positioned by its text", () =>
    expectErrors(bad("typed.ts"), [[13, 29, "virtualHosts.localhost.locations./.proxyReadTimeout", "expected a number or a string, got boolean true"]]));

  test("the file is named as it was given", async () => {
    const result = await runCli(["check", "-c", "test/fixtures/configs/bad/listen-port.yaml"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "test/fixtures/configs/bad/listen-port.yaml:1:9  listen  must be at most 65535, got number 70000\n");
  });

  test("a port above 65535", () => expectErrors(bad("listen-port.yaml"), [[1, 9, "listen", "must be at most 65535, got number 70000"]]));
});

describe("mistakes found when compiling, all of them, in order", { concurrency: true }, () => {
  test("locations, proxyPass, return and virtual hosts", () =>
    expectErrors(bad("locations.yaml"), [
      [7, 7, 'virtualHosts.localhost.locations["!~ /x"]', 'unknown modifier "!~"; use "= /path", "^~ /path", "~ regex", "~* regex" or a plain "/path" prefix'],
      [9, 7, 'virtualHosts.localhost.locations["~ ^/(unclosed"]', "invalid regular expression: Unterminated group"],
      [12, 20, 'virtualHosts.localhost.locations["~ \\\\.php$"].proxyPass', 'a regex location cannot pass a URI part ("/index.php"): nginx refuses it too'],
      [14, 20, "virtualHosts.localhost.locations./bad-url.proxyPass", 'expected "http://host[:port][/uri]" or "http://UPSTREAM_NAME[/uri]"'],
      [15, 7, "virtualHosts.localhost.locations./both", "a location answers in one way: it has return and proxyPass; keep one"],
      [18, 7, "virtualHosts.localhost.locations./none", "this location does not answer: give it return, content or proxyPass"],
      [23, 7, 'virtualHosts.localhost.locations["^~ /a"]', 'duplicate location: "^~ /a" and "/a" (line 21) are both the prefix "/a"; keep one'],
      [26, 17, "virtualHosts.localhost.locations./var.return", 'unknown variable "$hots": did you mean "$host"?'],
      [30, 18, "virtualHosts.localhost.locations./header.proxySetHeader.X-Who", /^unknown variable "\$nobody_knows": use one of \$host, /],
      [32, 14, "virtualHosts.other.default", 'virtual hosts "localhost" and "other" are both the default: keep default: true on one'],
      [36, 7, 'virtualHosts.other.locations["=/x"]', 'duplicate location: "=/x" and "= /x" (line 34) are both the exact location "/x"; keep one'],
    ]));

  test("hooks: module not found, export not found, snippet that does not parse", () =>
    expectErrors(bad("hooks.yaml"), [
      [6, 18, "virtualHosts.localhost.locations./missing.content", `hook module not found: ${bad("no-such-hook.js")}`],
      [8, 18, "virtualHosts.localhost.locations./no-export.content", '../hooks/hello.js has no function export "nope" (it exports: default, teapot'],
      [11, 17, "virtualHosts.localhost.locations./snippet.access", "the inline hook is not valid JavaScript"],
    ]));

  test("environment variables that are not set and have no default", () =>
    expectErrors(bad("env.yaml"), [
      [1, 9, "listen", "environment variable PORTICO_TEST_UNSET_PORT is not set: set it, or give a default with ${env:PORTICO_TEST_UNSET_PORT:-default}"],
      [6, 20, "virtualHosts.localhost.locations./.proxyPass", "environment variable PORTICO_TEST_UNSET_UPSTREAM_PORT is not set"],
    ]));

  test("the same file passes once the variables are set", async () => {
    const result = await runCli(["check", "-c", bad("env.yaml")], {
      env: { PORTICO_TEST_UNSET_PORT: "127.0.0.1:0", PORTICO_TEST_UNSET_UPSTREAM_PORT: "9000" },
    });
    assert.equal(result.code, 0, result.stderr);
  });
});

describe("files that are not configs", { concurrency: true }, () => {
  test("a missing file", () => expectErrors(bad("no-such-file.yaml"), [[1, 1, "(root)", "file not found"]]));
  test("an unknown extension", () =>
    expectErrors(bad("config.toml"), [[1, 1, "(root)", 'unknown config type ".toml": use .yaml, .yml, .json, .ts, .mts, .js or .mjs']]));
  test("an empty file", () => expectErrors(bad("empty.yaml"), [[1, 1, "(root)", "the file is empty: a config needs at least virtualHosts"]]));
  test("a file of comments only", () => expectErrors(bad("comments-only.yaml"), [[1, 1, "(root)", "the file has no content, only comments"]]));
  test("a YAML list", () => expectErrors(bad("list.yaml"), [[1, 1, "(root)", "the config must be a map with at least virtualHosts, got a list"]]));
  test("a JSON list", () => expectErrors(bad("list.json"), [[1, 1, "(root)", "the config must be a map with at least virtualHosts, got a list"]]));
  test("a folder", () => expectErrors(path.join(FIXTURES, "bad"), [[1, 1, "(root)", "this is a folder: give the config file"]]));
});
