/**
 * Reads a config file into a plain value and a way to find where each field was written, so
 * that every error can say FILE:LINE:COL. YAML and JSON keep their source ranges through the
 * `yaml` parser (JSON is first checked strictly, since YAML would accept a trailing comma); a
 * module config is searched as text for its keys, which finds most of them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type ConfigIssue } from "../errors.js";

export type FieldPath = readonly (string | number)[];

export interface ConfigSource {
  /** Absolute path of the file, or "<inline>" for an object passed to createGateway. */
  file: string;
  /** Folder that relative paths in the config (hooks, files) are resolved against. */
  baseDir: string;
  value: unknown;
  /**
   * Line and column (1-based) of a field's key, or of its value for `at: "value"`; for a field
   * that is not written (a required one that is missing), the deepest key that is. 0:0 when the
   * config has no text (an object passed to createGateway).
   */
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

/** 1-based line and column of a character offset. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** The `package.json` that decides whether a `.ts`/`.js` file is an ES module, if any. */
function packageScope(file: string): { file: string; type: string | undefined } | null {
  let dir = path.dirname(file);
  for (;;) {
    const candidate = path.join(dir, "package.json");
    if (existsSync(candidate)) {
      try {
        return { file: candidate, type: (JSON.parse(readFileSync(candidate, "utf8")) as { type?: string }).type };
      } catch {
        return { file: candidate, type: undefined };
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * Where a module failed to load, when the error says so: esbuild's "FILE:L:C: ERROR: …" for
 * TypeScript, a stack frame in the file for a throw, `node --check` for a JavaScript syntax error.
 */
export function moduleFailure(file: string, error: unknown): { line: number; column: number; message: string } {
  const err = error as NodeJS.ErrnoException;
  const text = String(err?.message ?? error);
  const esbuild = /^(.*?):(\d+):(\d+): ERROR: (.*)$/m.exec(text);
  // (tsx names a .mts file .ts in esbuild's messages)
  const stem = (name: string) => path.resolve(name).replace(/\.[mc]?ts$/, "");
  if (esbuild && stem(esbuild[1] as string) === stem(file)) {
    return { line: Number(esbuild[2]), column: Number(esbuild[3]) + 1, message: `TypeScript syntax error: ${esbuild[4]}` };
  }
  if (esbuild) return { line: 1, column: 1, message: `the module failed to load: ${esbuild[1]}:${esbuild[2]}:${esbuild[3]}: ${esbuild[4]}` };
  const first = text.split("\n")[0] ?? "";
  if (err instanceof SyntaxError && /\.[mc]?js$/.test(file)) {
    const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
    const lines = (check.stderr ?? "").split("\n");
    const at = /:(\d+)$/.exec(lines[0] ?? "");
    const caret = (lines[2] ?? "").indexOf("^");
    if (at) return { line: Number(at[1]), column: caret >= 0 ? caret + 1 : 1, message: `JavaScript syntax error: ${first}` };
    return { line: 1, column: 1, message: `JavaScript syntax error: ${first}` };
  }
  const href = pathToFileURL(file).href;
  for (const frame of String(err?.stack ?? "").split("\n")) {
    const m = /\(?((?:file:\/\/)?[^()\s]+?)(?:\?[^:()\s]*)?:(\d+):(\d+)\)?\s*$/.exec(frame);
    if (m && (m[1] === file || m[1] === href)) return { line: Number(m[2]), column: Number(m[3]), message: `the module threw while loading: ${first}` };
  }
  return { line: 1, column: 1, message: `the module failed to load: ${first}` };
}

/**
 * A locator for a module config: looks for each key of the path in turn, as `key:`, `"key":` or
 * `'key':`, after the previous one. Keys written in other ways (computed, shorthand, spread) are
 * not found; the deepest one that is found is used.
 */
function textLocator(text: string) {
  const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return (field: FieldPath, at: "key" | "value" = "key") => {
    let from = 0;
    let keyAt = -1;
    let valueAt = -1;
    for (const part of field) {
      if (typeof part === "number") continue;
      const name = escapeRegExp(part);
      const bare = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part) ? `|${name}` : "";
      const pattern = new RegExp(`(?<![A-Za-z0-9_$"'\`])(?:"${name}"|'${name}'|\`${name}\`${bare})\\s*:\\s*`, "g");
      pattern.lastIndex = from;
      const m = pattern.exec(text);
      if (!m) {
        valueAt = -1;
        break;
      }
      keyAt = m.index;
      valueAt = m.index + m[0].length;
      from = valueAt;
    }
    if (keyAt < 0) return { line: 1, column: 1 };
    return positionOf(text, at === "value" && valueAt >= 0 ? valueAt : keyAt);
  };
}

/** Duplicate keys, each reported at its second occurrence with the line of the first. */
function duplicateKeys(doc: Document.Parsed, lineCounter: LineCounter, file: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (node: unknown, field: (string | number)[]) => {
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : null;
        const offset = (pair.key as Node | null)?.range?.[0];
        if (key !== null && key !== "<<" && offset !== undefined) {
          const first = seen.get(key);
          if (first !== undefined) {
            const pos = lineCounter.linePos(offset);
            issues.push({
              file,
              line: pos.line,
              column: pos.col,
              path: formatPath([...field, key]),
              message: `duplicate key "${key}": it is already set on line ${lineCounter.linePos(first).line}; keep one`,
              severity: "error",
            });
          } else seen.set(key, offset);
        }
        if (key !== null) visit(pair.value, [...field, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        visit(item, [...field, index]);
      });
    }
  };
  visit(doc.contents, []);
  return issues;
}

const JSON_WHITESPACE = new Set([" ", "\t", "\n", "\r"]);

/** A strict JSON reader that only says where the first error is: JSON.parse's messages do not, on every Node. */
export function jsonSyntaxError(text: string): { offset: number; message: string } | null {
  let i = 0;
  const fail = (message: string, offset = i): never => {
    throw { offset, message };
  };
  const space = () => {
    while (i < text.length && JSON_WHITESPACE.has(text[i] as string)) i++;
  };
  const unexpected = (expected: string): never => {
    if (i >= text.length) return fail(`unexpected end of the file: expected ${expected}`);
    const c = text[i] as string;
    if (c === "/" && (text[i + 1] === "/" || text[i + 1] === "*")) return fail("JSON has no comments: remove it, or write the config in YAML");
    if (c === "'") return fail(`JSON strings take double quotes: expected ${expected}`);
    return fail(`unexpected ${JSON.stringify(c)}: expected ${expected}`);
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail("unterminated string", start);
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c === 10 || c === 13) fail("unterminated string (a line ends inside it)", start);
      if (c < 32) fail("control character in a string: escape it");
      if (c === 92) {
        const n = text[i + 1];
        if (n === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('"\\u" needs four hex digits');
          i += 6;
          continue;
        }
        if (n === undefined || !'"\\/bfnrt'.includes(n)) fail(`invalid escape "\\${n ?? ""}"`);
        i += 2;
        continue;
      }
      i++;
    }
    i++;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  /** An object's or array's members, separated by commas, up to `close` (a trailing comma is an error). */
  const members = (close: "}" | "]", item: () => void): void => {
    i++;
    space();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      if (text[i] !== ",") unexpected(`"," or "${close}"`);
      const comma = i;
      i++;
      space();
      if (text[i] === close) fail(`trailing comma: JSON does not allow one before ${close}`, comma);
    }
  };
  const member = (): void => {
    space();
    if (text[i] !== '"') unexpected('a "quoted" key');
    string();
    space();
    if (text[i] !== ":") unexpected('":" after the key');
    i++;
    value();
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      members(c === "{" ? "}" : "]", c === "{" ? member : value);
      return;
    }
    if (c === '"') {
      string();
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    unexpected("a value");
  };
  try {
    value();
    space();
    if (i < text.length) unexpected("the end of the file after the value");
    return null;
  } catch (error) {
    if (error instanceof Error) throw error;
    return error as { offset: number; message: string };
  }
}

export async function readConfigSource(file: string): Promise<ConfigSource> {
  const absolute = path.resolve(file);
  const baseDir = path.dirname(absolute);
  const issue = (message: string, line = 1, column = 1): ConfigIssue => ({ file: absolute, line, column, path: "", message, severity: "error" });
  const fail = (code: "PTC_ERR_CONFIG_READ" | "PTC_ERR_CONFIG_PARSE" | "PTC_ERR_CONFIG_INVALID", message: string, line = 1, column = 1): never => {
    throw new ConfigError(code, [issue(message, line, column)]);
  };
  const extension = path.extname(absolute).toLowerCase();
  let stats: ReturnType<typeof statSync> | undefined;
  try {
    stats = statSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    fail("PTC_ERR_CONFIG_READ", code === "ENOENT" || code === "ENOTDIR" ? "file not found" : `cannot read the file: ${code}`);
  }
  if (stats?.isDirectory()) fail("PTC_ERR_CONFIG_READ", "this is a folder: give the config file");
  const known = MODULE_EXTENSIONS.has(extension) || extension === ".yaml" || extension === ".yml" || extension === ".json";
  if (!known) {
    fail("PTC_ERR_CONFIG_READ", `unknown config type "${extension || path.basename(absolute)}": use .yaml, .yml, .json, .ts, .mts, .js or .mjs`);
  }

  if (MODULE_EXTENSIONS.has(extension)) {
    const text = await readFile(absolute, "utf8").catch(() => "");
    let module: Record<string, unknown>;
    try {
      module = await importFresh(absolute);
    } catch (error) {
      const where = moduleFailure(absolute, error);
      const scope = packageScope(absolute);
      const commonJs = extension === ".cts" || extension === ".cjs" || ((extension === ".ts" || extension === ".js") && scope?.type !== "module");
      // A CommonJS config that imports "portico" loads a second copy of its dependencies (undici
      // among them), which fails in odd ways; an ES module does not.
      const hint = commonJs
        ? `; this file loads as CommonJS (${scope ? `${path.relative(baseDir, scope.file) || "package.json"} has no "type": "module"` : 'no package.json says "type": "module"'}): name it ${path.basename(absolute, extension)}.${extension.includes("t") ? "mts" : "mjs"}`
        : "";
      return fail("PTC_ERR_CONFIG_PARSE", `${where.message}${hint}`, where.line, where.column);
    }
    let value: unknown = module.default;
    // A CommonJS module's namespace: `default` is module.exports, whose own `default` is the config.
    if (
      value !== null &&
      typeof value === "object" &&
      "default" in value &&
      (Object.hasOwn(value, "__esModule") || Object.keys(value).every((key) => key === "default"))
    ) {
      value = (value as { default: unknown }).default;
    }
    if (typeof value === "function") {
      try {
        value = await (value as () => unknown)();
      } catch (error) {
        const where = moduleFailure(absolute, error);
        return fail(
          "PTC_ERR_CONFIG_PARSE",
          `the default export is a function and it threw: ${String((error as Error)?.message ?? error).split("\n")[0]}`,
          where.line,
          where.column,
        );
      }
    }
    if (value === undefined) fail("PTC_ERR_CONFIG_PARSE", "the module has no default export: export default defineConfig({ … })");
    return { file: absolute, baseDir, value, locate: textLocator(text) };
  }

  let text: string;
  try {
    text = await readFile(absolute, "utf8");
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return fail("PTC_ERR_CONFIG_READ", `cannot read the file: ${err.code ?? err.message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const isJson = extension === ".json";
  if (text.trim() === "") fail("PTC_ERR_CONFIG_INVALID", "the file is empty: a config needs at least virtualHosts");

  let jsonValue: unknown;
  if (isJson) {
    const problem = jsonSyntaxError(text);
    if (problem) {
      const pos = positionOf(text, problem.offset);
      fail("PTC_ERR_CONFIG_PARSE", `JSON syntax error: ${problem.message}`, pos.line, pos.column);
    }
    jsonValue = JSON.parse(text);
  }

  const lineCounter = new LineCounter();
  // Both formats go through one parser for their source positions; duplicate keys are found below, with their paths.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false, merge: !isJson });
  // (A JSON text is valid by now; should the YAML parser still object somewhere, only its positions are lost.)
  if (doc.errors.length > 0 && !isJson) {
    const issues: ConfigIssue[] = doc.errors.map((error) => {
      let offset = error.pos[0];
      // The parser points at the start of a badly indented line; the text there is what is wrong.
      while (text[offset] === " ") offset++;
      const pos = lineCounter.linePos(offset);
      let message = (error.message.split("\n")[0] ?? "syntax error").replace(/ at line \d+, column \d+:?$/, "");
      const quote = /^Missing closing (["'])quote/.exec(message)?.[1];
      if (quote) {
        // Reported at the end of the file; the string that runs away starts at the last quote before it.
        let start = text.lastIndexOf(quote, offset - 1);
        while (start > 0 && quote === '"' && text[start - 1] === "\\") start = text.lastIndexOf(quote, start - 2);
        if (start >= 0) {
          const at = lineCounter.linePos(start);
          return issue(`YAML syntax error: the string that starts here has no closing ${quote}`, at.line, at.col);
        }
        message = `missing closing ${quote}`;
      }
      return issue(`YAML syntax error: ${message}`, pos.line, pos.col);
    });
    throw new ConfigError(
      "PTC_ERR_CONFIG_PARSE",
      issues.sort((a, b) => a.line - b.line || a.column - b.column),
    );
  }
  const duplicates = duplicateKeys(doc, lineCounter, absolute);
  if (duplicates.length > 0) throw new ConfigError("PTC_ERR_CONFIG_PARSE", duplicates);
  if (doc.contents === null) fail("PTC_ERR_CONFIG_INVALID", "the file has no content, only comments: a config needs at least virtualHosts");

  let value: unknown;
  try {
    value = isJson ? jsonValue : doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return fail("PTC_ERR_CONFIG_PARSE", `YAML: ${(error as Error).message}`);
  }

  const locate = (field: FieldPath, at: "key" | "value" = "key") => {
    let node: unknown = doc.contents;
    let keyOffset: number | undefined;
    let found = true;
    for (const part of field) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
        if (!pair) {
          found = false;
          break;
        }
        keyOffset = (pair.key as Node | null)?.range?.[0];
        node = pair.value;
      } else if (isSeq(node) && typeof part === "number" && node.items[part]) {
        node = node.items[part];
        keyOffset = (node as Node).range?.[0];
      } else {
        found = false;
        break;
      }
      if (!node) {
        found = at === "key";
        break;
      }
    }
    const valueOffset = found && node ? (node as Node).range?.[0] : undefined;
    const offset = at === "value" && valueOffset !== undefined ? valueOffset : (keyOffset ?? valueOffset ?? (doc.contents as Node | null)?.range?.[0]);
    if (offset === undefined) return { line: 1, column: 1 };
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return { file: absolute, baseDir, value, locate };
}
