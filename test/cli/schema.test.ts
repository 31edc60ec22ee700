// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${env:NAME}" is Portico's syntax, not a template
/**
 * `portico schema` and the build's `dist/portico.schema.json`: the JSON Schema editors use. A
 * small validator of the JSON Schema subset the schema uses checks configs against it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import { configJsonSchema } from "../../src/index.js";
import { BUILTIN_PLUGINS } from "../../src/plugins/index.js";
import { FIXTURES, REFERENCE, ROOT, runCli } from "../helpers/cli.js";

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  required?: string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
  description?: string;
  $schema?: string;
};

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Errors of `value` against the subset of JSON Schema 2020-12 that zod emits for Portico; [] when valid. */
function validate(schema: Schema, value: unknown, at = "$"): string[] {
  if (schema.anyOf || schema.oneOf) {
    const options = (schema.anyOf ?? schema.oneOf) as Schema[];
    const results = options.map((option) => validate(option, value, at));
    const passing = results.filter((errors) => errors.length === 0).length;
    if (schema.oneOf ? passing !== 1 : passing === 0) return [`${at}: matches ${passing} of the ${options.length} forms`, ...results.flat()];
  }
  const errors: string[] = [];
  const type = typeOf(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => t === type || (t === "number" && type === "integer"))) return [`${at}: expected ${types.join("|")}, got ${type}`];
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: not one of ${JSON.stringify(schema.enum)}`);
  if ("const" in schema && schema.const !== value) errors.push(`${at}: not ${JSON.stringify(schema.const)}`);
  if (typeof value === "string") {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.items) for (const [index, item] of value.entries()) errors.push(...validate(schema.items, item, `${at}[${index}]`));
  }
  if (type === "object") {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in object)) errors.push(`${at}: ${name} is required`);
    for (const [key, item] of Object.entries(object)) {
      if (schema.propertyNames) errors.push(...validate(schema.propertyNames, key, `${at} key ${JSON.stringify(key)}`));
      const property = schema.properties?.[key];
      if (property) errors.push(...validate(property, item, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unknown property ${key}`);
      else if (typeof schema.additionalProperties === "object") errors.push(...validate(schema.additionalProperties, item, `${at}.${key}`));
    }
  }
  return errors;
}

describe("portico schema", () => {
  let schema: Schema;

  before(async () => {
    const result = await runCli(["schema"]);
    assert.equal(result.code, 0, result.stderr);
    schema = JSON.parse(result.stdout) as Schema;
  });

  test("is the library's configJsonSchema(BUILTIN_PLUGINS), a 2020-12 schema of the config with the built-in plugins", () => {
    assert.deepEqual(schema, configJsonSchema(BUILTIN_PLUGINS));
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.deepEqual(schema.required, ["virtualHosts"]);
    for (const key of ["listen", "upstreams", "vars", "virtualHosts", "clientMaxBodySize", "proxyReadTimeout", "logLevel"]) {
      assert.ok(schema.properties?.[key], `top-level property ${key}`);
    }
  });

  test("describes the fields an editor completes", () => {
    const vhost = schema.properties?.virtualHosts?.additionalProperties as Schema;
    const location = vhost.properties?.locations?.additionalProperties as Schema;
    for (const key of ["return", "proxyPass", "proxySetHeader", "addHeader", "content", "headerFilter", "recommendedProxySettings"]) {
      assert.ok(location.properties?.[key]?.description, `locations.*.${key} has a description`);
    }
    assert.equal(location.additionalProperties, false);
    assert.equal(location.properties?.content?.type, "string", "in JSON and YAML a hook is a module path or a snippet");
  });

  test("validates the reference setup as written, ${env:…} references included", () => {
    const reference = parse(readFileSync(REFERENCE, "utf8")) as unknown;
    assert.deepEqual(validate(schema, reference), []);
  });

  test("validates the YAML and JSON fixtures, and refuses what `portico check` refuses", () => {
    for (const name of ["basic.yaml", "basic.json", "routes.yaml", "warnings.yaml"]) {
      assert.deepEqual(validate(schema, parse(readFileSync(path.join(FIXTURES, name), "utf8"))), [], name);
    }
    const timeout = (value: unknown) => validate(schema, { virtualHosts: {}, proxyReadTimeout: value });
    assert.deepEqual(timeout("1h 30m"), []);
    assert.deepEqual(timeout("${env:TIMEOUT:-5s}"), []);
    assert.notDeepEqual(timeout("fast"), []);
    assert.notDeepEqual(validate(schema, { virtualHosts: {}, listen: "abc" }), []);
    assert.notDeepEqual(validate(schema, { virtualHosts: { a: { locations: { "/": { retrun: 200 } } } } }), []);
    assert.notDeepEqual(validate(schema, { virtualHost: {} }), []);
    assert.notDeepEqual(validate(schema, { virtualHosts: { a: { locations: { "/": { proxySetHeader: { "Bad Header": "x" } } } } } }), []);
  });
});

describe("the build", () => {
  test("writes dist/portico.schema.json, the schema `portico schema` prints", async () => {
    // dist/ is the build of src/ as it is: npm test runs `npm run build` first when src/ is newer
    // (scripts/run-tests.js), and the CLI helpers refuse an older one. So this is the build's own output.
    const printed = await runCli(["schema"]);
    assert.equal(printed.code, 0, printed.stderr);
    const written = JSON.parse(readFileSync(path.join(ROOT, "dist", "portico.schema.json"), "utf8")) as unknown;
    assert.deepEqual(written, JSON.parse(printed.stdout));
    assert.deepEqual(written, configJsonSchema(BUILTIN_PLUGINS));
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown>; scripts: Record<string, string> };
    assert.equal(pkg.exports["./schema.json"], "./dist/portico.schema.json");
    assert.match(pkg.scripts.build as string, /node scripts\/write-schema\.js/);
  });
});
