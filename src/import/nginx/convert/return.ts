/** nginx's `return` (at server or location level) as Portico's `return` value. */
import type { Directive } from "../parser.js";
import type { ConvertContext } from "./context.js";

/** `return CODE [TEXT|URL]` or `return URL` as Portico's string; undefined (and a TODO) when it cannot be. */
export function returnValue(ctx: ConvertContext, d: Directive, path: string[]): string | number | undefined {
  const [first, second] = d.args;
  if (first === undefined || d.args.length > 2) {
    ctx.todo(d, path, "expected return CODE [TEXT] or return URL");
    return undefined;
  }
  const unknown = ctx.unknownVariable(d.args.join(" "));
  if (unknown) {
    ctx.todo(d, path, `$${unknown} is not a Portico variable: answer from a \`content\` hook instead`);
    return undefined;
  }
  if (second === undefined) {
    if (/^\d{3}$/.test(first)) return Number(first);
    if (/^(https?:\/\/|\$scheme)/.test(first)) return `302 ${first}`;
    ctx.todo(d, path, "expected a status code or an http(s):// URL");
    return undefined;
  }
  if (!/^\d{3}$/.test(first)) {
    ctx.todo(d, path, "expected a status code");
    return undefined;
  }
  // Portico strips one level of quotes, as nginx's parser did: quote whenever the text needs it.
  const quote = second === "" || /\s/.test(second) || /^['"]|['"]$/.test(second);
  return `${first} ${quote ? `'${second}'` : second}`;
}
