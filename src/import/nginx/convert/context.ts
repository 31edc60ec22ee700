/**
 * What one conversion accumulates (the output's top level, upstreams, zones, servers, vars, the
 * notes) and the helpers every directive family uses: notes with the original text, file paths,
 * values, variables.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { SIZE_PATTERN, TIME_PATTERN } from "../../../config/schema.js";
import { VARIABLE_NAMES } from "../../../http/variables.js";
import type { Directive } from "../parser.js";
import type { ValueKind } from "../tables/inheritable.js";
import type { ConvertOptions, ImportNote, NoteKind, Obj, ReqZone, ServerInfo } from "./types.js";

const NGINX_TIME = /^\d+(ms|s|m|h|d|w)?(\d+(ms|s|m|h|d|w)?)*$/;

export class ConvertContext {
  readonly options: ConvertOptions;
  readonly notes: ImportNote[] = [];
  /** The output's top level (the http level's own options). */
  readonly config: Obj = {};
  readonly upstreams: Obj = {};
  readonly zones = new Map<string, ReqZone>();
  readonly servers: ServerInfo[] = [];
  readonly vars: Obj = {};
  readonly #texts = new Map<string, string>();

  constructor(options: ConvertOptions) {
    this.options = options;
  }

  // ---------- notes

  file(d: Directive): string {
    const rel = relative(this.options.prefix, d.file);
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

  note(kind: NoteKind, d: Directive, path: string[], hint: string): void {
    this.notes.push({ kind, file: this.file(d), line: d.line, directive: d.name, original: this.original(d), hint, path });
  }

  todo(d: Directive, path: string[], hint: string): void {
    this.note("todo", d, path, hint);
  }

  warn(d: Directive, path: string[], hint: string): void {
    this.note("warning", d, path, hint);
  }

  // ---------- values

  /** A file name of the nginx config as the output refers to it. */
  path(file: string): string {
    const full = isAbsolute(file) ? file : join(this.options.prefix, file);
    if (this.options.outDir === undefined) return full;
    const rel = relative(this.options.outDir, full);
    return rel === "" ? "." : rel;
  }

  /** The first `$variable` in `text` that Portico does not know; null when it knows them all. */
  unknownVariable(text: string): string | null {
    for (const match of text.matchAll(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))/g)) {
      const name = (match[1] ?? match[2]) as string;
      if (/^[0-9]$/.test(name) || VARIABLE_NAMES.includes(name) || /^(http|arg)_/.test(name) || Object.hasOwn(this.vars, name)) continue;
      return name;
    }
    return null;
  }

  /** A directive's value read as `kind`; undefined (and a TODO) when it cannot be. */
  value(d: Directive, kind: ValueKind, path: string[]): unknown {
    const args = d.args;
    if (kind === "words") return args.join(" ");
    if (args.length !== 1) {
      this.todo(d, path, `expected one value, got ${args.length}`);
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
    this.todo(d, path, `the value "${value}" has no Portico equivalent`);
    return undefined;
  }
}
