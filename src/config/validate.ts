/**
 * Schema validation with answers a person can act on: every problem at once, each with its
 * position, its field path, and for a misspelt key the name that was probably meant.
 */
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { AnyPlugin } from "../lifecycle/plugin.js";
import { type EnvProblem, substituteEnv } from "./env.js";
import { buildConfigSchema, configJsonSchema } from "./schema.js";
import { type ConfigSource, type FieldPath, formatPath } from "./source.js";
import type { ValidatedConfig } from "./types.js";

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  type?: string;
};

/** Levenshtein distance, small inputs only (config keys). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const score = distance(word, candidate);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** The keys an object at `field` may have, read from the JSON Schema. */
function keysAt(root: JsonSchema, field: FieldPath): string[] {
  let nodes: JsonSchema[] = [root];
  for (const part of field) {
    const next: JsonSchema[] = [];
    const visit = (node: JsonSchema) => {
      if (node.anyOf) node.anyOf.forEach(visit);
      else if (typeof part === "number" && node.items) next.push(node.items);
      else if (node.properties?.[part as string]) next.push(node.properties[part as string] as JsonSchema);
      else if (typeof node.additionalProperties === "object") next.push(node.additionalProperties);
    };
    nodes.forEach(visit);
    nodes = next;
  }
  const keys = new Set<string>();
  const collect = (node: JsonSchema) => {
    if (node.anyOf) node.anyOf.forEach(collect);
    for (const key of Object.keys(node.properties ?? {})) keys.add(key);
  };
  nodes.forEach(collect);
  keys.delete("$schema");
  return [...keys];
}

function describeReceived(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, field: FieldPath): unknown {
  let node = root;
  for (const part of field) node = (node as Record<string | number, unknown> | undefined)?.[part];
  return node;
}

const TYPE_NAMES: Record<string, string> = {
  record: "a map",
  object: "a map",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  function: "a function",
};
const typeName = (expected: string) => TYPE_NAMES[expected] ?? expected;

function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** Whether a union branch failed on the value's type itself (not on something inside it). */
function mismatched(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.some(
    (inner) => inner.path.length === 0 && (inner.code === "invalid_type" || (inner.code === "invalid_union" && inner.errors.every((sub) => mismatched(sub)))),
  );
}

/**
 * A union's issue, taken apart when the value has the shape of exactly one of its forms: then
 * that form's own issues (a list's bad entry, a map's unknown key) are the ones to report, at
 * their own paths. `field` is where the union sits.
 */
function expandUnion(issue: z.core.$ZodIssue, field: FieldPath): Array<{ field: FieldPath; issue: z.core.$ZodIssue }> {
  if (issue.code !== "invalid_union") return [{ field, issue }];
  const shaped = issue.errors.filter((branch) => branch.length > 0 && !mismatched(branch));
  if (shaped.length !== 1) return [{ field, issue }];
  return (shaped[0] as z.core.$ZodIssue[]).flatMap((inner) => expandUnion(inner, [...field, ...(inner.path as FieldPath)]));
}

/** One readable sentence per zod issue. */
function explain(issue: z.core.$ZodIssue, field: FieldPath, input: unknown): string {
  const received = valueAt(input, field);
  switch (issue.code) {
    case "invalid_type":
      if (received === undefined) return `is required (${typeName(issue.expected)})`;
      return `expected ${typeName(issue.expected)}, got ${describeReceived(received)}`;
    case "invalid_union": {
      // Nested unions (listen: an entry or a list of entries) keep their specific messages one level down.
      const flatten = (list: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] =>
        list.flatMap((inner) => (inner.code === "invalid_union" ? [inner, ...flatten(inner.errors.flat())] : [inner]));
      const all = flatten(issue.errors.flat());
      const specific = [
        ...new Set(all.filter((inner) => inner.code !== "invalid_type" && inner.code !== "invalid_union").map((inner) => explain(inner, field, input))),
      ];
      if (specific.length > 0) return specific.join("; or ");
      const expected = [...new Set(all.flatMap((inner) => (inner.code === "invalid_type" && inner.path.length === 0 ? [typeName(inner.expected)] : [])))];
      if (expected.length > 0 && received === undefined) return `is required (${orList(expected)})`;
      if (expected.length > 0) return `expected ${orList(expected)}, got ${describeReceived(received)}`;
      return `got ${describeReceived(received)}, which is none of the accepted forms (see the docs for this field)`;
    }
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describeReceived(received)}`;
    case "too_small":
      if (issue.origin === "array") return `needs at least ${issue.minimum} entr${issue.minimum === 1 ? "y" : "ies"}`;
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${issue.minimum}, got ${describeReceived(received)}`;
    case "too_big":
      return `must be at most ${issue.maximum}, got ${describeReceived(received)}`;
    case "invalid_key": {
      const why = issue.issues.map((inner) => inner.message).join("; ");
      return `the key ${JSON.stringify(String(field.at(-1)))} is refused: ${why}`;
    }
    case "invalid_format":
    case "custom":
      return issue.message.startsWith("expected") && !issue.message.includes(", got ") ? `${issue.message}, got ${describeReceived(received)}` : issue.message;
    default:
      return issue.message;
  }
}

/** The position of each part of `field` among its siblings as written (a part not written comes last). */
function writtenOrder(root: unknown, field: FieldPath): number[] {
  const out: number[] = [];
  let node = root;
  for (const part of field) {
    if (Array.isArray(node) && typeof part === "number") out.push(part);
    else if (node !== null && typeof node === "object") {
      const index = Object.keys(node).indexOf(String(part));
      out.push(index < 0 ? Number.MAX_SAFE_INTEGER : index);
    } else out.push(Number.MAX_SAFE_INTEGER);
    node = (node as Record<string | number, unknown> | undefined)?.[part];
  }
  return out;
}

function compareOrder(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/** Replaces env references, then validates; throws ConfigError listing every problem found. */
export function validateConfig(
  source: ConfigSource,
  plugins: readonly AnyPlugin[],
  env: NodeJS.ProcessEnv = process.env,
): { config: ValidatedConfig; input: unknown } {
  const issues: ConfigIssue[] = [];
  const fields: FieldPath[] = [];
  const at = (field: FieldPath, message: string, where: "key" | "value" = "value"): ConfigIssue => {
    fields.push(field);
    return { file: source.file, ...source.locate(field, where), path: formatPath(field), message, severity: "error" };
  };

  const envProblems: EnvProblem[] = [];
  const input = substituteEnv(source.value, env, envProblems);
  for (const problem of envProblems) {
    issues.push(at(problem.path, `environment variable ${problem.name} is not set: set it, or give a default with \${env:${problem.name}:-default}`));
  }
  if (issues.length > 0) throw new ConfigError("PTC_ERR_CONFIG_ENV", issues);

  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("PTC_ERR_CONFIG_INVALID", [at([], `the config must be a map with at least virtualHosts, got ${describeReceived(input)}`)]);
  }

  const schema = buildConfigSchema(plugins);
  const result = schema.safeParse(input);
  if (result.success) return { config: result.data as ValidatedConfig, input };

  let jsonSchema: JsonSchema | undefined;
  // A misspelt key whose guess is a missing required one says it all: "virtualHost" → "virtualHosts" needs no "virtualHosts is required".
  const guessed = new Set<string>();
  const deferred: Array<{ field: FieldPath; issue: z.core.$ZodIssue }> = [];
  for (const issue of result.error.issues.flatMap((found) => expandUnion(found, found.path as FieldPath))) {
    const { field } = issue;
    if (issue.issue.code === "unrecognized_keys") {
      jsonSchema ??= configJsonSchema(plugins) as JsonSchema;
      const allowed = keysAt(jsonSchema, field);
      for (const key of issue.issue.keys) {
        const guess = closest(key, allowed);
        const hint = guess ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(", ")}`;
        if (guess) guessed.add(formatPath([...field, guess]));
        issues.push(at([...field, key], `unknown field "${key}": ${hint}`, "key"));
      }
      continue;
    }
    deferred.push(issue);
  }
  for (const { field, issue } of deferred) {
    if (issue.code === "invalid_type" && valueAt(input, field) === undefined && guessed.has(formatPath(field))) continue;
    issues.push(at(field, explain(issue, field, input), issue.code === "invalid_key" ? "key" : "value"));
  }
  // By position; without one (a config object), in the order the fields were written.
  const order = new Map(issues.map((issue, index) => [issue, writtenOrder(input, fields[index] as FieldPath)]));
  issues.sort((a, b) => a.line - b.line || a.column - b.column || compareOrder(order.get(a) ?? [], order.get(b) ?? []));
  throw new ConfigError("PTC_ERR_CONFIG_INVALID", issues);
}
