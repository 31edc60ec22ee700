/** A template's error as a config message, with the variable that was probably meant when one is close. */
import { closest } from "../config/validate.js";
import { TemplateError, VARIABLE_NAMES } from "../http/variables.js";

export function templateMessage(err: unknown, vars: Readonly<Record<string, unknown>>): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /^unknown variable "\$([A-Za-z0-9_]+)"/.exec(message);
  if (!unknown || !(err instanceof TemplateError)) return message;
  const guess = closest(unknown[1] as string, [...VARIABLE_NAMES, ...Object.keys(vars)]);
  return guess ? `unknown variable "$${unknown[1]}": did you mean "$${guess}"?` : message;
}
