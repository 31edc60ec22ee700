/**
 * Request-path normalisation exactly as nginx builds `$uri`, and nginx's URI
 * escaping for proxied requests.
 *
 * Input convention: `rawPath` is a byte string, one char per byte (code
 * 0–255), which is how Node's HTTP parsers hand over `req.url` (latin1). It is
 * the path only: the caller splits the query off first. A char above 0xFF
 * cannot come from the wire and makes the path invalid.
 */

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const HASH = 0x23;
const QUESTION = 0x3f;

// nginx `usual[]` (src/http/ngx_http_parse.c, non-Win32): bytes the complex URI
// parser copies without a second look. Not usual: controls, space, # % + . / ?
// and DEL. Backslash is usual: nginx treats "\" as a separator only on Windows.
const USUAL = new Uint8Array(256);
for (let c = 0x21; c < 0x100; c++) USUAL[c] = 1;
for (const c of " #%+./?\x7f") USUAL[c.charCodeAt(0)] = 0;

// States of ngx_http_parse_complex_uri().
const S_USUAL = 0;
const S_SLASH = 1;
const S_DOT = 2;
const S_DOT_DOT = 3;
const S_QUOTED = 4;
const S_QUOTED_SECOND = 5;

// Reused output buffer: decoding never makes a path longer, and the work is
// synchronous, so one buffer serves every request.
let scratch = Buffer.allocUnsafe(1024);

/**
 * Turns the raw request path into nginx's `$uri`: %XX decoded once (%2F and
 * %2E included), "." and ".." segments resolved, repeated slashes merged
 * (merge_slashes on), the bytes read as UTF-8 (bytes of invalid sequences
 * become U+DC80–U+DCFF, see decodePathBytes). A raw "#" or "?" ends the path,
 * as in nginx.
 *
 * Returns null where nginx answers 400: no leading "/", a climb above "/",
 * a malformed %XX, a decoded NUL, or a raw control char, space or DEL.
 *
 * @example normalizePath("/proxy/../a%2Fb") // "/a/b"
 */
export function normalizePath(rawPath: string): string | null {
  const len = rawPath.length;
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) return null;
  // Fast path, the same test as nginx's request-line parser: without "%",
  // "/.", "//", "#" (and here: "?" or any byte outside printable ASCII) the
  // path is already $uri.
  let prev = SLASH;
  for (let i = 1; i < len; i++) {
    const c = rawPath.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === PERCENT || c === HASH || c === QUESTION || (prev === SLASH && (c === SLASH || c === DOT))) {
      return normalizeComplex(rawPath);
    }
    prev = c;
  }
  return rawPath;
}

function normalizeComplex(raw: string): string | null {
  const len = raw.length;
  // nginx's request-line parser rejects controls and DEL; a space ends the
  // request target, so it cannot be part of a path either.
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) return null;
  }
  if (scratch.length < len) scratch = Buffer.allocUnsafe(Math.max(len, scratch.length * 2));
  const out = scratch;

  // A transcription of ngx_http_parse_complex_uri(): `ch` is the current char,
  // `p` the index of the next raw one. A decoded %XX is put back into `ch` and
  // handled in the state the "%" appeared in, so %2F acts as "/" and %2E as ".".
  let u = 0;
  let state = S_USUAL;
  let quotedState = S_USUAL;
  let decoded = 0;
  let ended = false;
  let p = 1;
  let ch = raw.charCodeAt(0);

  loop: while (p <= len) {
    switch (state) {
      case S_USUAL:
        if (USUAL[ch] === 1) {
          out[u++] = ch;
          break;
        }
        if (ch === SLASH) {
          state = S_SLASH;
          out[u++] = ch;
        } else if (ch === PERCENT) {
          quotedState = state;
          state = S_QUOTED;
        } else if (ch === QUESTION || ch === HASH) {
          ended = true;
          break loop;
        } else {
          out[u++] = ch;
        }
        break;

      case S_SLASH:
        if (USUAL[ch] === 1) {
          state = S_USUAL;
          out[u++] = ch;
          break;
        }
        if (ch === SLASH) {
          // merge_slashes: drop it.
        } else if (ch === DOT) {
          state = S_DOT;
          out[u++] = ch;
        } else if (ch === PERCENT) {
          quotedState = state;
          state = S_QUOTED;
        } else if (ch === QUESTION || ch === HASH) {
          ended = true;
          break loop;
        } else {
          state = S_USUAL;
          out[u++] = ch;
        }
        break;

      case S_DOT:
        if (USUAL[ch] === 1) {
          state = S_USUAL;
          out[u++] = ch;
          break;
        }
        if (ch === SLASH) {
          state = S_SLASH;
          u--;
        } else if (ch === DOT) {
          state = S_DOT_DOT;
          out[u++] = ch;
        } else if (ch === PERCENT) {
          quotedState = state;
          state = S_QUOTED;
        } else if (ch === QUESTION || ch === HASH) {
          u--;
          ended = true;
          break loop;
        } else {
          state = S_USUAL;
          out[u++] = ch;
        }
        break;

      case S_DOT_DOT:
        if (USUAL[ch] === 1) {
          state = S_USUAL;
          out[u++] = ch;
          break;
        }
        if (ch === SLASH || ch === QUESTION || ch === HASH) {
          u = parentEnd(out, u);
          if (u < 0) return null;
          if (ch !== SLASH) {
            ended = true;
            break loop;
          }
          state = S_SLASH;
        } else if (ch === PERCENT) {
          quotedState = state;
          state = S_QUOTED;
        } else {
          state = S_USUAL;
          out[u++] = ch;
        }
        break;

      case S_QUOTED: {
        const v = hexValue(ch);
        if (v < 0) return null;
        decoded = v;
        state = S_QUOTED_SECOND;
        break;
      }

      case S_QUOTED_SECOND: {
        const v = hexValue(ch);
        if (v < 0) return null;
        const c = (decoded << 4) | v;
        if (c === PERCENT || c === HASH || c === QUESTION) {
          // nginx keeps a decoded %, # or ? as plain data, never as syntax.
          state = S_USUAL;
          out[u++] = c;
          break;
        }
        if (c === 0) return null;
        ch = c;
        state = quotedState;
        continue loop; // reprocess the decoded byte, do not advance
      }
    }
    ch = p < len ? raw.charCodeAt(p) : -1;
    p++;
  }

  if (!ended) {
    if (state === S_QUOTED || state === S_QUOTED_SECOND) return null;
    if (state === S_DOT) {
      u--; // "/a/." -> "/a/"
    } else if (state === S_DOT_DOT) {
      u = parentEnd(out, u); // "/a/b/.." -> "/a/"
      if (u < 0) return null;
    }
  }
  const text = out.toString("utf8", 0, u);
  // U+FFFD means invalid UTF-8 (or a real U+FFFD): decode again keeping every byte.
  return text.includes("\uFFFD") ? decodePathBytes(out.subarray(0, u)) : text;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes as a string, where each byte that is not part of valid UTF-8 becomes a lone
 * surrogate U+DC80–U+DCFF (Python's "surrogateescape"): such a path matches no location written
 * in the config, and escapeUri turns it back into the very bytes nginx would send upstream.
 */
export function decodePathBytes(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let out = "";
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i] as number;
      const size = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
      if (size === 1) {
        out += String.fromCharCode(b);
        i++;
        continue;
      }
      if (size > 0 && i + size <= bytes.length) {
        try {
          out += strictUtf8.decode(bytes.subarray(i, i + size));
          i += size;
          continue;
        } catch {
          // not a whole sequence: escape this byte alone
        }
      }
      out += String.fromCharCode(0xdc00 + b);
      i++;
    }
    return out;
  }
}

// The output ends in "<segment>/.."; returns the length that keeps everything
// up to and including the slash before <segment>, or -1 when there is no
// segment to remove (the path would climb above "/").
function parentEnd(out: Buffer, u: number): number {
  for (let i = u - 4; i >= 0; i--) {
    if (out[i] === SLASH) return i + 1;
  }
  return -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

// NGX_ESCAPE_URI (src/core/ngx_string.c): besides bytes >= 0x80, escape the
// controls, space, " # % < > ? \ ^ ` { | } and DEL. Everything RFC 3986 allows
// in a path, "/" included, stays as it is.
const ESCAPE_URI = new Uint8Array(128);
for (let c = 0; c <= 0x20; c++) ESCAPE_URI[c] = 1;
for (const c of '"#%<>?\\^`{|}\x7f') ESCAPE_URI[c.charCodeAt(0)] = 1;

const HEX = "0123456789ABCDEF";

/**
 * nginx's ngx_escape_uri(…, NGX_ESCAPE_URI) over the UTF-8 bytes of `path`
 * (upper-case hex, as nginx). Returns `path` itself when nothing needs escaping.
 *
 * When to call it (ngx_http_proxy_create_request): with proxy_pass without a
 * URI part and the URI unchanged, nginx sends the client's original request
 * target byte for byte, no escaping. Otherwise it sends the proxy_pass URI part
 * as written followed by the rest of `$uri` after the location prefix, and
 * escapes only that rest, only when `r->quoted_uri || r->internal`: the client
 * path had a "%" (see needsEscapeForProxy) or the request was internally
 * redirected. Else the normalised bytes go out unescaped.
 *
 * @example escapeUri("/a b/é") // "/a%20b/%C3%A9"
 */
export function escapeUri(path: string): string {
  const len = path.length;
  let i = 0;
  while (i < len) {
    const c = path.charCodeAt(i);
    if (c >= 0x80 || ESCAPE_URI[c] === 1) break;
    i++;
  }
  if (i === len) return path;

  let out = path.slice(0, i);
  while (i < len) {
    let c = path.charCodeAt(i++);
    if (c < 0x80) {
      out += ESCAPE_URI[c] === 1 ? `%${HEX[c >> 4]}${HEX[c & 15]}` : path[i - 1];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i < len ? path.charCodeAt(i) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else if (c >= 0xdc80 && c <= 0xdcff) {
        out += pct(c - 0xdc00); // a byte decodePathBytes kept (invalid UTF-8): the same byte again
        continue;
      } else {
        c = 0xfffd; // any other lone surrogate, encoded as TextEncoder does
      }
    }
    if (c < 0x800) {
      out += pct(0xc0 | (c >> 6)) + pct(0x80 | (c & 63));
    } else if (c < 0x10000) {
      out += pct(0xe0 | (c >> 12)) + pct(0x80 | ((c >> 6) & 63)) + pct(0x80 | (c & 63));
    } else {
      out += pct(0xf0 | (c >> 18)) + pct(0x80 | ((c >> 12) & 63)) + pct(0x80 | ((c >> 6) & 63)) + pct(0x80 | (c & 63));
    }
  }
  return out;
}

function pct(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/**
 * What nginx's `r->quoted_uri` is for this raw path: true when a "%" appears
 * before the first "?" or "#" (ngx_http_parse_request_line and
 * ngx_http_parse_complex_uri set it there and nowhere else). The caller also
 * escapes after an internal redirect (`r->internal`), which a raw path cannot
 * show.
 */
export function needsEscapeForProxy(rawPath: string): boolean {
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === PERCENT) return true;
    if (c === QUESTION || c === HASH) return false;
  }
  return false;
}
