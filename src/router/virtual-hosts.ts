/**
 * nginx virtual-server choice by Host (ngx_http_find_virtual_server): exact
 * names, then the longest leading wildcard, then the longest trailing
 * wildcard, then the first matching regex, then the default server.
 */

import { compileNginxRegex } from "./locations.js";

/**
 * ngx_http_validate_host(): lower-cased, port and one trailing dot removed, an
 * IPv6 literal kept in its brackets. `undefined` (no Host header) gives "";
 * an invalid value, an empty one included, gives null: nginx answers 400.
 * The caller also answers 400 for HTTP/1.1 without Host, and uses the host of
 * an absolute-form request target instead of the header when there is one.
 *
 * @example normalizeHost("WWW.Example.COM.:8080") // "www.example.com"
 */
export function normalizeHost(host: string | undefined): string | null | "" {
  if (host === undefined) return "";
  const len = host.length;
  let state = H_START;
  let dotPos = len; // where the last "." was; len means none yet
  let hostLen = len;
  let port = 0;
  let lower = false;

  for (let i = 0; i < len; i++) {
    const c = host.charCodeAt(i);
    if (state === H_START) {
      if (c === 0x5b /* [ */) {
        state = H_IP_LITERAL;
        continue;
      }
      state = H_NAME;
    }
    switch (state) {
      case H_NAME:
        if (c === 0x3a /* : */) {
          hostLen = i;
          state = H_PORT;
        } else if (c === 0x2e /* . */) {
          if (dotPos === i - 1) return null; // ".." (a leading "." is allowed)
          dotPos = i;
        } else if (c >= 0x41 && c <= 0x5a) {
          lower = true;
        } else if (!(c < 0x80 && HOST_CHAR[c] === 1)) {
          return null;
        }
        break;
      case H_IP_LITERAL:
        if (c === 0x5d /* ] */) {
          hostLen = i + 1;
          state = H_IP_END;
        } else if (c === 0x2e) {
          if (dotPos === i - 1) return null;
          dotPos = i;
        } else if (c >= 0x41 && c <= 0x5a) {
          lower = true;
        } else if (!(c < 0x80 && (HOST_CHAR[c] === 1 || c === 0x3a)) || c === 0x25 /* % */) {
          return null;
        }
        break;
      case H_IP_END:
        if (c !== 0x3a) return null;
        state = H_PORT;
        break;
      case H_PORT: {
        const d = c - 0x30;
        if (d < 0 || d > 9) return null;
        if (port >= 6553 && (port > 6553 || d > 5)) return null; // above 65535
        port = port * 10 + d;
        break;
      }
    }
  }
  if (state === H_IP_LITERAL) return null;
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen === 0) return null;
  const name = hostLen === len ? host : host.slice(0, hostLen);
  return lower ? name.toLowerCase() : name;
}

const H_START = 0;
const H_NAME = 1;
const H_IP_LITERAL = 2;
const H_IP_END = 3;
const H_PORT = 4;

// What ngx_http_validate_host() accepts in a name besides "." and ":":
// lower-case letters, digits, unreserved - _ ~, sub-delims, and "%".
// Upper-case letters are accepted and lowered separately.
const HOST_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,;=%") HOST_CHAR[c.charCodeAt(0)] = 1;

export interface HostInput<T> {
  /** server_name values. An empty list means nginx's default name "". */
  names: string[];
  isDefault: boolean;
  data: T;
  /** How messages name this host (the config's virtual host name); "host #N" by default. */
  label?: string;
}

export interface HostMatch<T> {
  data: T;
  /** The host's position in the list given to createHostMatcher. */
  index: number;
  /** Why this host: a constant string per name, never built per request. */
  reason: string;
  /** The regex match for a "~" name, null otherwise. */
  captures: RegExpExecArray | null;
}

export interface HostMatcher<T> {
  /** `normalizedHost` comes from normalizeHost ("" when there was no Host). */
  match(normalizedHost: string): HostMatch<T>;
  /** One sentence: which host `match` picks for this normalised host, and why. */
  explain(normalizedHost: string): string;
}

interface Wildcard<T> {
  /** ".example.com" for "*.example.com", "www.example." for "www.example.*". */
  part: string;
  result: HostMatch<T>;
}

interface NameClaim {
  index: number;
  name: string;
  implicit: boolean;
}

/**
 * Compiles the server names of the hosts sharing one listener.
 *
 * Names, as nginx's server_name: "example.com"; "*.example.com" (subdomains
 * only); ".example.com" (example.com and its subdomains); "www.example.*";
 * "~regex" (case-insensitive if it has an upper-case letter, as nginx);
 * "" (requests without Host). "_" is no catch-all: like in nginx it is an
 * ordinary name no real host has. A request no name matches goes to the
 * `isDefault` host, else to the first.
 *
 * Throws on two defaults and on a name claimed twice. nginx only warns
 * ("conflicting server name … ignored") and keeps the first; Portico refuses,
 * because the ignored name silently routes elsewhere. Exceptions: the same
 * string repeated in one host, and the implicit "" of hosts without names
 * (nginx's everyday "conflicting server name """ warning), keep the first.
 */
export function createHostMatcher<T>(hosts: ReadonlyArray<HostInput<T>>): HostMatcher<T> {
  if (hosts.length === 0) throw new Error("at least one virtual host is needed");
  const labelOf = (index: number): string => {
    const label = hosts[index]?.label;
    return label === undefined ? `host #${index + 1}` : `virtual host "${label}"`;
  };

  const exact = new Map<string, HostMatch<T>>();
  const leading: Wildcard<T>[] = [];
  const trailing: Wildcard<T>[] = [];
  const regexes: Array<{ regex: RegExp; index: number; data: T; reason: string }> = [];
  // ngx_hash_add_key() conflict keys: "=" + exact name, "*" + leading
  // wildcard body, "." + trailing wildcard body.
  const claims = new Map<string, NameClaim>();
  let defaultIndex = -1;

  const claim = (key: string, c: NameClaim): boolean => {
    const prev = claims.get(key);
    if (prev === undefined) {
      claims.set(key, c);
      return true;
    }
    if (c.implicit || (prev.index === c.index && prev.name === c.name)) return false;
    const owner = prev.implicit ? `${labelOf(prev.index)}, which has no names and so the name ""` : `"${prev.name}" of ${labelOf(prev.index)}`;
    throw new Error(
      `server name "${c.name}" of ${labelOf(c.index)} conflicts with ${owner}` +
        (prev.index === c.index ? "" : "; nginx would ignore the second one") +
        "; remove one of them",
    );
  };

  hosts.forEach((host, index) => {
    if (host.isDefault) {
      if (defaultIndex >= 0) {
        throw new Error(`${labelOf(defaultIndex)} and ${labelOf(index)} are both marked default; keep isDefault on one`);
      }
      defaultIndex = index;
    }
    const implicit = host.names.length === 0;
    const names = implicit ? [""] : host.names;
    for (const raw of names) {
      const c: NameClaim = { index, name: raw, implicit };
      const result = (reason: string): HostMatch<T> => Object.freeze({ data: host.data, index, reason, captures: null });

      if (raw[0] === "~") {
        if (raw.length === 1) throw new Error(`server name "~" of ${labelOf(index)} has an empty regex`);
        const source = raw.slice(1);
        let regex: RegExp;
        try {
          // ngx_http_core_server_name(): an upper-case letter in the regex makes
          // it caseless, since the host it is matched against is lower-case.
          regex = compileNginxRegex(source, /[A-Z]/.test(source));
        } catch (err) {
          throw new Error(`server name "${raw}" of ${labelOf(index)}: ${(err as Error).message}`);
        }
        regexes.push({ regex, index, data: host.data, reason: `regex server name "${raw}"` });
        continue;
      }

      const name = raw.toLowerCase();
      if (name === "$hostname") {
        throw new Error(`server name "$hostname" of ${labelOf(index)} is not supported; write the host name`);
      }
      const kind = wildcardKind(name);
      if (kind === null) {
        throw new Error(
          `server name "${raw}" of ${labelOf(index)} is invalid: a "*" may only stand for whole labels at the start ("*.example.com") or the end ("www.example.*"), and ".." is not allowed`,
        );
      }
      const body = kind === "*." ? name.slice(2) : kind === "." ? name.slice(1) : kind === ".*" ? name.slice(0, -2) : name;
      checkCanMatch(raw, name, body, labelOf(index));

      if (kind === "") {
        if (claim(`=${name}`, c)) exact.set(name, result(name === "" ? 'server name "" (request without Host)' : `exact server name "${name}"`));
      } else if (kind === ".*") {
        if (claim(`.${body}`, c)) trailing.push({ part: `${body}.`, result: result(`trailing wildcard server name "${name}"`) });
      } else if (kind === "*.") {
        if (claim(`*${body}`, c)) leading.push({ part: `.${body}`, result: result(`leading wildcard server name "${name}"`) });
      } else {
        // ".example.com" takes both the exact and the wildcard slot.
        if (claim(`=${body}`, c) && claim(`*${body}`, c)) {
          const r = result(`server name "${name}" (the domain and its subdomains)`);
          exact.set(body, r);
          leading.push({ part: `.${body}`, result: r });
        }
      }
    }
  });

  // The most specific wildcard wins, as in nginx's label-by-label wildcard
  // hashes: the longest matching suffix or prefix.
  leading.sort((a, b) => b.part.length - a.part.length);
  trailing.sort((a, b) => b.part.length - a.part.length);

  const fallbackIndex = Math.max(defaultIndex, 0); // the default host, else the first
  const fallback: HostMatch<T> = Object.freeze({
    data: hosts[fallbackIndex].data,
    index: fallbackIndex,
    reason:
      defaultIndex >= 0
        ? "no server name matched, so the default host serves it"
        : "no server name matched and no host is marked default, so the first host serves it",
    captures: null,
  });

  function match(normalizedHost: string): HostMatch<T> {
    const hit = exact.get(normalizedHost);
    if (hit !== undefined) return hit;
    // ngx_hash_find_combined() and the regex loop both skip an empty host.
    if (normalizedHost.length === 0) return fallback;
    for (let i = 0; i < leading.length; i++) {
      const w = leading[i];
      if (normalizedHost.endsWith(w.part)) return w.result;
    }
    for (let i = 0; i < trailing.length; i++) {
      const w = trailing[i];
      // "www.example.*" needs at least one more label.
      if (normalizedHost.length > w.part.length && normalizedHost.startsWith(w.part)) return w.result;
    }
    for (let i = 0; i < regexes.length; i++) {
      const r = regexes[i];
      const m = r.regex.exec(normalizedHost);
      if (m !== null) return { data: r.data, index: r.index, reason: r.reason, captures: m };
    }
    return fallback;
  }

  function explain(normalizedHost: string): string {
    const m = match(normalizedHost);
    const names = hosts[m.index].names;
    const which = `${labelOf(m.index)} (${names.length === 0 ? 'no names, so nginx\'s ""' : names.map((n) => `"${n}"`).join(", ")})`;
    const subject = normalizedHost === "" ? "A request without Host" : `Host "${normalizedHost}"`;
    return `${subject} goes to ${which}: ${m.reason}.`;
  }

  return { match, explain };
}

/** "" exact, "*." leading, "." leading and the domain itself, ".*" trailing; null when invalid. */
function wildcardKind(name: string): "" | "*." | "." | ".*" | null {
  // ngx_http_core_server_name() and ngx_hash_add_key(), in their order.
  if ((name[0] === "*" && (name.length < 3 || name[1] !== ".")) || (name[0] === "." && name.length < 2)) return null;
  const stars = name.split("*").length - 1;
  if (stars > 1 || name.includes("..") || name.includes("\0")) return null;
  if (name.length > 1 && name[0] === ".") return ".";
  if (name.length > 2 && name.startsWith("*.")) return "*.";
  if (name.length > 2 && name.endsWith(".*")) return ".*";
  return stars === 0 ? "" : null;
}

// nginx accepts any name and it simply never matches; a typo here is better
// reported at load than discovered as traffic landing on the default host.
function checkCanMatch(raw: string, name: string, body: string, owner: string): void {
  if (body === "") return; // "" is nginx's name for "no Host"
  const n = normalizeHost(body);
  if (n === body) return;
  throw new Error(
    n === null
      ? `server name "${raw}" of ${owner} can never match: it has characters a Host header cannot have`
      : `server name "${raw}" of ${owner} can never match: Host headers are compared lower-cased, without port or trailing dot; write "${name.replace(body, n)}"`,
  );
}
