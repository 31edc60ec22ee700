/**
 * Schema validation with answers a person can act on: every problem at once, each with its
 * position, its field path, and for a misspelt key the name that was probably meant.
 */
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { AnyPlugin } from "../pipeline/plugin.js";
import { substituteEnv, type EnvProblem } from "./env.js";
import { buildConfigSchema, configJsonSchema } from "./schema.js";
import { type ConfigSource, type FieldPath, formatPath } from "./source.js";

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

/** One readable sentence per zod issue. */
function explain(issue: z.core.$ZodIssue, input: unknown): string {
  const received = valueAt(input, issue.path as FieldPath);
  switch (issue.code) {
    case "invalid_type":
      if (received === undefined) return `is required (expected ${issue.expected})`;
      return `expected ${issue.expected}, got ${describeReceived(received)}`;
    case "invalid_union": {
      const messages = new Set(issue.errors.flat().map((inner) => inner.message));
      const specific = [...messages].filter((message) => !message.startsWith("Invalid input"));
      if (specific.length > 0) return specific.join("; or ");
      return `got ${describeReceived(received)}, which is none of the accepted forms (see the docs for this field)`;
    }
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describeReceived(received)}`;
    case "too_small":
      return issue.origin === "array" ? `needs at least ${issue.minimum} entr${issue.minimum === 1 ? "y" : "ies"}` : `must be at least ${issue.minimum}`;
    case "too_big":
      return `must be at most ${issue.maximum}`;
    default:
      return issue.message;
  }
}

export interface ValidatedConfig<T> {
  config: T;
  source: ConfigSource;
}

/** Replaces env references, then validates; throws ConfigError listing every problem found. */
export function validateConfig(source: ConfigSource, plugins: readonly AnyPlugin[], env: NodeJS.ProcessEnv = process.env) {
  const issues: ConfigIssue[] = [];
  const at = (field: FieldPath, message: string, where: "key" | "value" = "value"): ConfigIssue => ({
    file: source.file,
    ...source.locate(field, where),
    path: formatPath(field),
    message,
    severity: "error",
  });

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
  if (result.success) return { config: result.data, input };

  let jsonSchema: JsonSchema | undefined;
  for (const issue of result.error.issues) {
    const field = issue.path as FieldPath;
    if (issue.code === "unrecognized_keys") {
      jsonSchema ??= configJsonSchema(plugins) as JsonSchema;
      const allowed = keysAt(jsonSchema, field);
      for (const key of issue.keys) {
        const guess = closest(key, allowed);
        const hint = guess ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(", ")}`;
        issues.push(at([...field, key], `unknown field "${key}": ${hint}`, "key"));
      }
      continue;
    }
    issues.push(at(field, explain(issue, input)));
  }
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new ConfigError("PTC_ERR_CONFIG_INVALID", issues);
}
