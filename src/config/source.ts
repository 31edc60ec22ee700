/**
 * Reads a config file into a plain value and a way to find where each field was written, so
 * that every error can say FILE:LINE:COL. YAML and JSON go through one parser (`yaml` keeps
 * source ranges); a module config has no positions (its types are checked by the editor).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type ConfigIssue } from "../errors.js";

export type FieldPath = readonly (string | number)[];

export interface ConfigSource {
  /** Absolute path of the file, or "<inline>" for an object passed to createGateway. */
  file: string;
  /** Folder that relative paths in the config (hooks, files) are resolved against. */
  baseDir: string;
  value: unknown;
  /** Line and column (1-based) of a field's key, or of its value for `at: "value"`. */
  locate(field: FieldPath, at?: "key" | "value"): { line: number; column: number };
}

const NOWHERE = { line: 0, column: 0 };

/** Formats a field path as `virtualHosts.localhost.locations["~ \.png$"].proxyPass`. */
export function formatPath(field: FieldPath): string {
  let out = "";
  for (const part of field) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z0-9_$/:-]*$/.test(part) && part !== "") out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

export function sourceFromObject(value: unknown, baseDir = process.cwd()): ConfigSource {
  return { file: "<inline>", baseDir, value, locate: () => NOWHERE };
}

const MODULE_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
let importGeneration = 0;

/** Imports a JS or TS module, fresh each call so that a reload sees edited files. */
export async function importFresh(file: string): Promise<Record<string, unknown>> {
  const url = `${pathToFileURL(file).href}?portico=${++importGeneration}`;
  if (/\.[mc]?ts$/.test(file)) {
    const { tsImport } = await import("tsx/esm/api");
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

export async function readConfigSource(file: string): Promise<ConfigSource> {
  const absolute = path.resolve(file);
  const baseDir = path.dirname(absolute);
  const fail = (code: "PTC_ERR_CONFIG_READ" | "PTC_ERR_CONFIG_PARSE", message: string, line = 1, column = 1): never => {
    throw new ConfigError(code, [{ file: absolute, line, column, path: "", message, severity: "error" }]);
  };
  const extension = path.extname(absolute).toLowerCase();

  if (MODULE_EXTENSIONS.has(extension)) {
    let module: Record<string, unknown>;
    try {
      module = await importFresh(absolute);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      if (err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes(absolute)) fail("PTC_ERR_CONFIG_READ", "file not found");
      return fail("PTC_ERR_CONFIG_PARSE", `the module failed to load: ${err.message?.split("\n")[0]}`);
    }
    let value = module.default;
    if (typeof value === "function") value = await (value as () => unknown)();
    if (value === undefined) fail("PTC_ERR_CONFIG_PARSE", "the module has no default export: export default defineConfig({ … })");
    return { file: absolute, baseDir, value, locate: () => NOWHERE };
  }

  if (extension !== ".yaml" && extension !== ".yml" && extension !== ".json") {
    fail("PTC_ERR_CONFIG_READ", `unknown config type "${extension}": use .yaml, .yml, .json, .ts, .mts, .js or .mjs`);
  }
  let text: string;
  try {
    text = await readFile(absolute, "utf8");
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return fail("PTC_ERR_CONFIG_READ", err.code === "ENOENT" ? "file not found" : `cannot read the file: ${err.code ?? err.message}`);
  }
  const lineCounter = new LineCounter();
  // JSON is YAML 1.2; parsing both with one parser gives both the same positions and errors.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((error) => {
      const pos = lineCounter.linePos(error.pos[0]);
      return { file: absolute, line: pos.line, column: pos.col, path: "", message: error.message.split("\n")[0] ?? "syntax error", severity: "error" };
    });
    throw new ConfigError("PTC_ERR_CONFIG_PARSE", issues);
  }
  const value = doc.toJS({ maxAliasCount: 100 }) ?? {};

  const locate = (field: FieldPath, at: "key" | "value" = "key") => {
    let node: Node | null | undefined = doc.contents as Node | null;
    let keyOffset: number | undefined;
    for (const part of field) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === part || String(isScalar(item.key) ? item.key.value : "") === String(part));
        if (!pair) break;
        keyOffset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        node = pair.value as Node | null;
        if (!node) break;
      } else if (isSeq(node) && typeof part === "number") {
        node = node.items[part] as Node | undefined;
        keyOffset = node?.range?.[0];
        if (!node) break;
      } else {
        break;
      }
    }
    const offset = at === "value" ? (node?.range?.[0] ?? keyOffset) : (keyOffset ?? node?.range?.[0]);
    if (offset === undefined) return { line: 1, column: 1 };
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return { file: absolute, baseDir, value, locate };
}
