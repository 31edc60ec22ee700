/** The request target as received, split into path and query. */

export interface SplitTarget {
  /** Path and query (origin-form), as received. */
  raw: string;
  rawPath: string;
  rawQuery: string;
  /** The host an absolute-form target names; undefined for origin-form. */
  host: string | undefined;
}

/** Splits the request target; absolute-form (`GET http://host/path`) names the host itself (RFC 9112 3.2.2). Null: neither form. */
export function splitTarget(url: string): SplitTarget | null {
  let raw = url;
  let host: string | undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const absolute = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
    if (!absolute) return null;
    host = absolute[1];
    raw = absolute[2] || "/";
    if (raw.charCodeAt(0) !== 47) raw = `/${raw}`;
  }
  const q = raw.indexOf("?");
  return q < 0 ? { raw, rawPath: raw, rawQuery: "", host } : { raw, rawPath: raw.slice(0, q), rawQuery: raw.slice(q + 1), host };
}
