/**
 * Turns a hook as written in the config into a function, once at load: a function (TS/JS
 * config), a module path (`./post-created.js`, `./hooks.ts#audit`), or an inline snippet, the
 * counterpart of `*_by_lua_block`, with `ctx` in scope (`return { version: "0.0.1" }`).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { importFresh, moduleFailure } from "../config/source.js";
import type { HookFunction } from "./context.js";

const MODULE_PATH = /^(\.{1,2}\/|\/)[^\s#]*\.(?:[cm]?[jt]s)(?:#[A-Za-z_$][A-Za-z0-9_$]*)?$/;
const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => HookFunction;

export class HookLoadError extends Error {}

export function isModuleReference(spec: string): boolean {
  return MODULE_PATH.test(spec.trim());
}

/** Compiles an inline snippet; `await` in it makes it an async function. */
export function compileSnippet(code: string): HookFunction {
  try {
    return /\bawait\b/.test(code) ? new AsyncFunction("ctx", code) : (new Function("ctx", code) as HookFunction);
  } catch (error) {
    throw new HookLoadError(`the inline hook is not valid JavaScript: ${(error as Error).message}`);
  }
}

/** Module files loaded by this load, for reload-on-change and for error messages. */
export async function loadHook(spec: string | HookFunction, baseDir: string, files: Set<string>): Promise<{ fn: HookFunction; label: string }> {
  if (typeof spec === "function") return { fn: spec, label: spec.name ? `function ${spec.name}` : "function" };
  const trimmed = spec.trim();
  if (!isModuleReference(trimmed)) return { fn: compileSnippet(trimmed), label: "inline snippet" };

  const [relative, exportName = "default"] = trimmed.split("#") as [string, string?];
  const file = path.resolve(baseDir, relative);
  if (!existsSync(file)) throw new HookLoadError(`hook module not found: ${file}`);
  files.add(file);
  let module: Record<string, unknown>;
  try {
    module = await importFresh(file);
  } catch (error) {
    const where = moduleFailure(file, error);
    throw new HookLoadError(`hook module ${relative}:${where.line}:${where.column}: ${where.message}`);
  }
  const fn = module[exportName];
  if (typeof fn !== "function") {
    const exported = Object.keys(module).filter((key) => typeof module[key] === "function");
    throw new HookLoadError(
      `${relative} has no function export "${exportName}"${exported.length ? ` (it exports: ${exported.join(", ")}; use "${relative}#${exported[0]}")` : ""}`,
    );
  }
  return { fn: fn as HookFunction, label: trimmed };
}
