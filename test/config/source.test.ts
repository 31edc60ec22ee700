// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/**
 * Reading config files: values, positions of fields (YAML, JSON, and TS/JS by their text), and
 * the errors of files that cannot be read.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatPath, jsonSyntaxError, readConfigSource, sourceFromObject } from "../../src/config/source.js";
import { ConfigError } from "../../src/errors.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/configs/", import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), "portico-source-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

async function issuesOf(file: string): Promise<Array<[number, number, string, string]>> {
  try {
    await readConfigSource(file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((issue) => [issue.line, issue.column, issue.path, issue.message]);
  }
  assert.fail(`${file} was read without an error`);
}

describe("formatPath", () => {
  test("dots for plain names, brackets for indexes and names with other characters", () => {
    assert.equal(formatPath([]), "");
    assert.equal(formatPath(["listen", 0]), "listen[0]");
    assert.equal(
      formatPath(["virtualHosts", "localhost", "locations", "/proxy/rewrite", "proxyPass"]),
      "virtualHosts.localhost.locations./proxy/rewrite.proxyPass",
    );
    assert.equal(formatPath(["virtualHosts", "example.com", "locations", "~ \\.php$"]), 'virtualHosts["example.com"].locations["~ \\\\.php$"]');
    assert.equal(formatPath(["vars", ""]), 'vars[""]');
  });
});

describe("YAML", () => {
  test("the value, and the position of keys and values", async () => {
    const source = await readConfigSource(path.join(FIXTURES, "routes.yaml"));
    assert.equal(source.file, path.join(FIXTURES, "routes.yaml"));
    assert.equal(source.baseDir, FIXTURES.replace(/\/$/, ""));
    const value = source.value as { virtualHosts: { main: { locations: Record<string, unknown> } } };
    assert.deepEqual(Object.keys(value.virtualHosts.main.locations), ["= /", "/", "^~ /static/", "/images/", "~ \\.(png|jpg)$", "~* \\.php$"]);
    assert.deepEqual(source.locate(["listen"]), { line: 2, column: 1 });
    assert.deepEqual(source.locate(["listen"], "value"), { line: 2, column: 9 });
    assert.deepEqual(source.locate(["virtualHosts", "main", "locations", "~* \\.php$", "proxyPass"], "value"), { line: 18, column: 20 });
    assert.deepEqual(source.locate(["virtualHosts", "api", "serverAliases", 0]), { line: 22, column: 21 });
  });

  test("a field that is not written is placed at the deepest key that is", async () => {
    const source = await readConfigSource(path.join(FIXTURES, "routes.yaml"));
    assert.deepEqual(source.locate(["virtualHosts", "api", "default"]), { line: 20, column: 3 });
    assert.deepEqual(source.locate(["virtualHosts", "api", "default"], "value"), { line: 20, column: 3 });
    assert.deepEqual(source.locate(["nothing", "here"]), { line: 2, column: 1 });
    assert.deepEqual(source.locate([]), { line: 2, column: 1 });
  });

  test("anchors, aliases and << merge keys", async () => {
    const file = write(
      "merge.yaml",
      "base: &base\n  return: 200\nvirtualHosts:\n  a:\n    locations:\n      /:\n        <<: *base\n        addHeader: { X-A: b }\n      /b: *base\n",
    );
    const source = await readConfigSource(file);
    const locations = (source.value as { virtualHosts: { a: { locations: Record<string, unknown> } } }).virtualHosts.a.locations;
    assert.deepEqual(locations["/"], { return: 200, addHeader: { "X-A": "b" } });
    assert.deepEqual(locations["/b"], { return: 200 });
    assert.deepEqual(source.locate(["virtualHosts", "a", "locations", "/b", "return"]), { line: 2, column: 3 }, "through the alias to the anchor");
  });

  test("a byte order mark is not part of the first key", async () => {
    const file = write("bom.yaml", "\uFEFFlisten: 8080\nvirtualHosts: {}\n");
    const source = await readConfigSource(file);
    assert.deepEqual(source.value, { listen: 8080, virtualHosts: {} });
    assert.deepEqual(source.locate(["listen"]), { line: 1, column: 1 });
  });

  test("syntax errors, with the position of what is wrong", async () => {
    assert.deepEqual(await issuesOf(write("tab.yaml", "virtualHosts:\n\ta: 1\n")), [[2, 1, "", "YAML syntax error: Tabs are not allowed as indentation"]]);
    assert.deepEqual(await issuesOf(write("quote.yaml", "a: 'x\nb: 1\n")), [[1, 4, "", "YAML syntax error: the string that starts here has no closing '"]]);
    const flow = await issuesOf(write("flow.yaml", "listen: [8080\nvirtualHosts: {}\n"));
    assert.equal(flow[0]?.[0], 2);
    assert.match(flow[0]?.[3] as string, /^YAML syntax error: /);
  });

  test("duplicate keys, all of them, with their paths", async () => {
    assert.deepEqual(await issuesOf(write("dup.yaml", "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")), [
      [4, 3, "b.c", 'duplicate key "c": it is already set on line 3; keep one'],
      [5, 1, "a", 'duplicate key "a": it is already set on line 1; keep one'],
    ]);
  });

  test("an empty file and a file of comments", async () => {
    assert.deepEqual(await issuesOf(write("empty.yml", "  \n")), [[1, 1, "", "the file is empty: a config needs at least virtualHosts"]]);
    assert.deepEqual(await issuesOf(write("comments.yml", "# a\n# b\n")), [
      [1, 1, "", "the file has no content, only comments: a config needs at least virtualHosts"],
    ]);
  });
});

describe("JSON", () => {
  test("the value from a strict parse, positions from the text", async () => {
    const source = await readConfigSource(path.join(FIXTURES, "basic.json"));
    const value = source.value as { listen: string; virtualHosts: { localhost: { default: boolean } } };
    assert.equal(value.listen, "${env:PORTICO_TEST_LISTEN:-127.0.0.1:0}");
    assert.equal(value.virtualHosts.localhost.default, true);
    assert.deepEqual(source.locate(["listen"]), { line: 3, column: 3 });
    assert.deepEqual(source.locate(["listen"], "value"), { line: 3, column: 13 });
    assert.deepEqual(source.locate(["virtualHosts", "localhost", "locations", "/hello", "content"], "value"), { line: 9, column: 67 });
  });

  test("a YAML-only spelling is a JSON error", async () => {
    assert.deepEqual(await issuesOf(write("yamlish.json", "{\n  listen: 8080\n}\n")), [
      [2, 3, "", 'JSON syntax error: unexpected "l": expected a "quoted" key'],
    ]);
    assert.deepEqual(await issuesOf(write("single.json", "{ 'a': 1 }")), [
      [1, 3, "", 'JSON syntax error: JSON strings take double quotes: expected a "quoted" key'],
    ]);
  });

  test("jsonSyntaxError finds the first error and its offset", () => {
    assert.equal(jsonSyntaxError('{"a": [1, 2.5e3, -0, true, false, null, "\\u00e9\\n"], "b": {}}'), null);
    assert.equal(jsonSyntaxError(" \n[] \n"), null);
    assert.deepEqual(jsonSyntaxError('{"a": 1,}'), { offset: 7, message: "trailing comma: JSON does not allow one before }" });
    assert.deepEqual(jsonSyntaxError("[1,]"), { offset: 2, message: "trailing comma: JSON does not allow one before ]" });
    assert.deepEqual(jsonSyntaxError('{"a" 1}'), { offset: 5, message: 'unexpected "1": expected ":" after the key' });
    assert.deepEqual(jsonSyntaxError('{"a": 01}'), { offset: 7, message: 'unexpected "1": expected "," or "}"' });
    assert.deepEqual(jsonSyntaxError('{"a": "x\ny"}'), { offset: 6, message: "unterminated string (a line ends inside it)" });
    assert.deepEqual(jsonSyntaxError('"\\x"'), { offset: 1, message: 'invalid escape "\\x"' });
    assert.deepEqual(jsonSyntaxError("{} {}"), { offset: 3, message: 'unexpected "{": expected the end of the file after the value' });
    assert.deepEqual(jsonSyntaxError("[1, /* no */ 2]"), { offset: 4, message: "JSON has no comments: remove it, or write the config in YAML" });
    assert.deepEqual(jsonSyntaxError("[tru]"), { offset: 1, message: 'unexpected "t": expected a value' });
    assert.deepEqual(jsonSyntaxError(""), { offset: 0, message: "unexpected end of the file: expected a value" });
  });
});

describe("modules", () => {
  test("a TypeScript config: its default export, and keys found in its text", async () => {
    const file = path.join(FIXTURES, "basic.ts");
    const source = await readConfigSource(file);
    const value = source.value as { listen: string; virtualHosts: { localhost: { locations: Record<string, { content?: unknown }> } } };
    assert.equal(value.listen, "${env:PORTICO_TEST_LISTEN:-127.0.0.1:0}");
    assert.equal(typeof value.virtualHosts.localhost.locations["/hello"]?.content, "function");
    assert.deepEqual(source.locate(["listen"]), { line: 6, column: 3 });
    assert.deepEqual(source.locate(["listen"], "value"), { line: 6, column: 11 });
    assert.deepEqual(source.locate(["virtualHosts", "localhost", "locations", "/hello", "defaultType"]), { line: 13, column: 11 });
    assert.deepEqual(source.locate(["virtualHosts", "localhost", "locations", "/api/", "proxyPass"], "value"), { line: 16, column: 31 });
  });

  test("a default export that is a function is called", async () => {
    const file = write("fn.mjs", "export default async () => ({ virtualHosts: {} });\n");
    assert.deepEqual((await readConfigSource(file)).value, { virtualHosts: {} });
  });

  test("a .ts config outside an ES module package (CommonJS) still gives its default export", async () => {
    const dir = path.join(tmp, "cjs");
    const file = path.join(dir, "portico.ts");
    await import("node:fs").then((fs) => fs.mkdirSync(dir));
    writeFileSync(path.join(dir, "package.json"), '{ "name": "app" }\n');
    writeFileSync(file, "export default { virtualHosts: { a: { locations: { '/': { return: 200 } } } } };\n");
    assert.deepEqual((await readConfigSource(file)).value, { virtualHosts: { a: { locations: { "/": { return: 200 } } } } });
  });

  test("no default export", async () => {
    assert.deepEqual(await issuesOf(write("none.mjs", "export const config = {};\n")), [
      [1, 1, "", "the module has no default export: export default defineConfig({ … })"],
    ]);
  });

  test("syntax errors and throws, at their line", async () => {
    assert.deepEqual(await issuesOf(write("syntax.mjs", "export default {\n  a: 1,,\n};\n")), [[2, 8, "", "JavaScript syntax error: Unexpected token ','"]]);
    assert.deepEqual(await issuesOf(write("syntax.mts", "export default {\n  a: 1\n;\n")), [[3, 1, "", 'TypeScript syntax error: Expected "}" but found ";"']]);
    assert.deepEqual(await issuesOf(write("throws.mts", "const a: number = 1;\nif (a) throw new Error('no config today');\nexport default {};\n")), [
      [2, 14, "", "the module threw while loading: no config today"],
    ]);
  });

  test("an import that fails is not taken for a missing config file", async () => {
    const [issue] = await issuesOf(write("imports.mjs", 'import x from "./not-there.mjs";\nexport default x;\n'));
    assert.match(issue?.[3] as string, /^the module failed to load: Cannot find module '.*not-there\.mjs'/);
  });
});

describe("files that cannot be read", () => {
  test("missing, a folder, an unknown extension", async () => {
    assert.deepEqual(await issuesOf(path.join(tmp, "nope.yaml")), [[1, 1, "", "file not found"]]);
    assert.deepEqual(await issuesOf(path.join(tmp, "nope.ts")), [[1, 1, "", "file not found"]]);
    assert.deepEqual(await issuesOf(tmp), [[1, 1, "", "this is a folder: give the config file"]]);
    assert.deepEqual(await issuesOf(write("portico.conf", "server {}")), [
      [1, 1, "", 'unknown config type ".conf": use .yaml, .yml, .json, .ts, .mts, .js or .mjs'],
    ]);
  });

  test("the error codes", async () => {
    const code = async (file: string) => {
      try {
        await readConfigSource(file);
      } catch (error) {
        return (error as ConfigError).code;
      }
      return undefined;
    };
    assert.equal(await code(path.join(tmp, "nope.yaml")), "PTC_ERR_CONFIG_READ");
    assert.equal(await code(write("bad.json", "{,}")), "PTC_ERR_CONFIG_PARSE");
    assert.equal(await code(write("empty.json", "")), "PTC_ERR_CONFIG_INVALID");
  });
});

test("an object has no positions", () => {
  const source = sourceFromObject({ virtualHosts: {} }, "/srv");
  assert.equal(source.file, "<inline>");
  assert.equal(source.baseDir, "/srv");
  assert.deepEqual(source.locate(["virtualHosts"]), { line: 0, column: 0 });
});
