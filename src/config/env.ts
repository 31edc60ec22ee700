/**
 * `${env:NAME}` and `${env:NAME:-default}` in any string of the config, replaced at load (and at
 * every reload), so that one file serves every stage and no secret has to sit in it. The default
 * applies when NAME is unset or empty, as in the shell.
 */

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface EnvProblem {
  path: (string | number)[];
  name: string;
}

/** Returns a copy of `value` with every reference replaced; unset variables without a default are reported. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, problems: EnvProblem[], path: (string | number)[] = []): unknown {
  if (typeof value === "string") {
    if (!value.includes("${env:")) return value;
    return value.replace(ENV_REF, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      // As in the shell and Docker Compose, ":-" also replaces a variable that is set but empty.
      if (found !== undefined && (found !== "" || fallback === undefined)) return found;
      if (fallback !== undefined) return fallback;
      problems.push({ path, name });
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, env, problems, [...path, index]));
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = substituteEnv(item, env, problems, [...path, key]);
    return out;
  }
  return value;
}
