/**
 * Header rules of a proxy, decided once per header name, both directions.
 */

/** RFC 9110 7.6.1: connection-specific fields are not forwarded (plus the RFC 2616 list that proxies still honour). */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Not forwarded upstream: hop-by-hop, Host (set from proxyPass, nginx's $proxy_host) and Expect
 * (Node answers 100-continue itself; undici refuses the header).
 */
export function dropRequestHeader(lowerName: string): boolean {
  // HTTP/2 pseudo-headers (":authority", ":path", …) are the request line, not headers.
  return HOP_BY_HOP.has(lowerName) || lowerName === "host" || lowerName === "expect" || lowerName.charCodeAt(0) === 58;
}

/** Not passed back to the client: hop-by-hop, and Server/Date, which the gateway sets itself (nginx proxy_hide_header defaults). */
export function dropResponseHeader(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName === "server" || lowerName === "date";
}

/**
 * RFC 9110 7.6.1: "a proxy MUST … remove any header field named in Connection". A message may
 * carry several Connection fields: pass the set returned for the previous one to add to it.
 */
export function connectionTokens(value: string | undefined, previous: Set<string> | null = null): Set<string> | null {
  if (!value) return previous;
  let tokens: Set<string> | null = previous;
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name && name !== "close" && name !== "keep-alive") (tokens ??= new Set()).add(name);
  }
  return tokens;
}

/** Connection-specific fields, forbidden in HTTP/2 responses (RFC 9113 8.2.2): Node throws on them. */
export function isConnectionSpecific(lowerName: string): boolean {
  return (
    lowerName === "connection" || lowerName === "keep-alive" || lowerName === "proxy-connection" || lowerName === "transfer-encoding" || lowerName === "upgrade"
  );
}

/** The value of a header in Node's flat rawHeaders list, without building req.headers. */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}
