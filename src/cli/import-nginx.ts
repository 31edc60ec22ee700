/**
 * `portico import-nginx FILE [-o OUT]`: prints (or writes) the Portico YAML of an nginx config;
 * what was not carried over goes to stderr as `file:line: directive: hint`.
 * Exit 0: everything carried; 2: the YAML has TODOs; 1: nginx's syntax is broken (or OUT cannot be written).
 */
import { writeFileSync } from "node:fs";
import { importNginx, NginxParseError } from "../import/nginx/index.js";

export function importNginxCommand(file: string, out: string | undefined): number {
  let result: ReturnType<typeof importNginx>;
  try {
    result = importNginx(file, out ? { outFile: out } : {});
  } catch (error) {
    if (error instanceof NginxParseError) {
      process.stderr.write(`portico import-nginx: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  for (const note of result.notes) {
    const where = note.file ? `${note.file}:${note.line}: ` : "";
    const label = note.kind === "todo" ? "TODO" : note.kind === "warning" ? "warning" : "ignored";
    process.stderr.write(`${where}${label}: ${note.directive ? `${note.directive}: ` : ""}${note.hint}\n`);
  }
  if (out) {
    try {
      writeFileSync(out, result.yaml);
    } catch (error) {
      process.stderr.write(`portico import-nginx: cannot write ${out}: ${(error as Error).message}\n`);
      return 1;
    }
  } else process.stdout.write(result.yaml);
  const todos = result.todos.length;
  if (todos > 0) process.stderr.write(`${todos} TODO${todos > 1 ? "s" : ""}: search the YAML for "TODO"\n`);
  return todos > 0 ? 2 : 0;
}
