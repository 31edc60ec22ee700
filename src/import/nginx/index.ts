/**
 * `portico import-nginx`: an nginx/OpenResty config → Portico YAML. The YAML is built with the
 * `yaml` package's Document API so that every TODO sits, as a comment with the original text and
 * its `file:line`, right above the part of the config it belongs to.
 */
import { dirname, resolve } from "node:path";
import { Document, isMap, isScalar, type YAMLMap } from "yaml";
import { type ConvertResult, convertNginx, type ImportNote } from "./convert.js";
import { type Directive, parseNginxFile } from "./parser.js";

export { convertNginx, type ImportNote } from "./convert.js";
export { type Directive, NginxParseError, parseNginxFile, parseNginxText } from "./parser.js";

export interface ImportOptions {
  /** Where the YAML will be written: file paths in it are made relative to that file's directory. Absolute paths when absent. */
  outFile?: string;
}

export interface ImportResult extends ConvertResult {
  yaml: string;
  /** The notes of kind "todo": what was not carried. */
  todos: ImportNote[];
}

/** Reads an nginx config (and what it includes) and returns the Portico config, its YAML and the notes. Throws NginxParseError. */
export function importNginx(file: string, options: ImportOptions = {}): ImportResult {
  const main = resolve(file);
  const prefix = dirname(main);
  const missing: Directive[] = [];
  const directives = parseNginxFile(main, { prefix, onMissingInclude: (d) => missing.push(d) });
  const result = convertNginx(directives, { prefix, ...(options.outFile ? { outDir: dirname(resolve(options.outFile)) } : {}) });
  for (const d of missing) {
    result.notes.push({
      kind: "todo",
      file: d.file.startsWith(prefix) ? d.file.slice(prefix.length + 1) : d.file,
      line: d.line,
      directive: "include",
      original: `include ${d.args.join(" ")};`,
      hint: "the included file does not exist here: import it where it does",
      path: [],
    });
  }
  result.notes.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  const todos = result.notes.filter((note) => note.kind === "todo");
  return { ...result, todos, yaml: toYaml(result.config, result.notes, file) };
}

/** One note as the lines of a comment (without the "#"). */
export function noteLines(note: ImportNote): string[] {
  const label = note.kind === "todo" ? "TODO" : "NOTE";
  const where = note.file ? `${note.file}:${note.line}: ` : "";
  const lines = [` ${label} ${where}${note.hint}`];
  if (note.original) for (const line of note.original.split("\n")) lines.push(`   ${line}`.trimEnd());
  return lines;
}

function toYaml(config: Record<string, unknown>, notes: ImportNote[], file: string): string {
  const doc = new Document(config);
  const header = [` Imported from ${file} by portico import-nginx.`];
  const todoCount = notes.filter((n) => n.kind === "todo").length;
  header.push(
    todoCount > 0 ? ` ${todoCount} TODO${todoCount > 1 ? "s" : ""} below: what nginx did there is not carried over yet.` : " Everything was carried over.",
  );
  const top: string[] = [];
  const byKey = new Map<unknown, string[]>();
  for (const note of notes) {
    if (note.kind === "ignored") continue;
    const target = findKey(doc, note.path);
    if (target === null) top.push(...noteLines(note));
    else byKey.set(target, [...(byKey.get(target) ?? []), ...noteLines(note)]);
  }
  doc.commentBefore = [...header, ...(top.length > 0 ? ["", ...top] : [])].join("\n");
  for (const [node, lines] of byKey) (node as { commentBefore?: string }).commentBefore = lines.join("\n");
  return doc.toString({ lineWidth: 0 });
}

/** The key node of the deepest existing pair on `path`, or null for the top. */
function findKey(doc: Document, path: string[]): unknown {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = depth === 1 ? doc.contents : doc.getIn(path.slice(0, depth - 1), true);
    if (!isMap(parent)) continue;
    const pair = (parent as YAMLMap).items.find((item) => isScalar(item.key) && item.key.value === path[depth - 1]);
    if (pair && isScalar(pair.key)) return pair.key;
  }
  return null;
}
