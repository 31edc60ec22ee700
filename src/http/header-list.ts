/**
 * Headers as Node's flat lists (`[name, value, name, value]`, what `res.writeHead` takes and
 * `rawHeaders` gives) and as objects with lower-case names (what hooks see).
 */
import type { OutgoingHttpHeaders } from "node:http";

/** An object of headers as a flat list; arrays become repeated names (set-cookie). */
export function toHeaderList(headers: OutgoingHttpHeaders): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) list.push(name, String(item));
    else list.push(name, String(value));
  }
  return list;
}

/** A flat list as an object with lower-case names; repeated names become arrays. */
export function toHeaderObject(list: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    const value = list[i + 1] as string;
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else headers[name] = Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }
  return headers;
}

/** Removes, in place, every header of a flat list whose lower-case name `drop` accepts. */
export function removeHeaders(list: string[], drop: (lowerName: string) => boolean): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (drop((list[i] as string).toLowerCase())) list.splice(i, 2);
}
