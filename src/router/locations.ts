/**
 * nginx `location` matching (ngx_http_core_find_location): compiled once per
 * config, one Map lookup plus a short scan per request.
 */

import { escapeUri } from "./normalize-path.js";

export type LocationModifier = "=" | "^~" | "~" | "~*" | "";

export interface ParsedLocationKey {
  modifier: LocationModifier;
  pattern: string;
}

export interface LocationEntry<T> {
  readonly key: string;
  readonly modifier: LocationModifier;
  readonly pattern: string;
  readonly regex: RegExp | null;
  /** Effective value: only a non-regex location whose path ends in "/" redirects. */
  readonly autoRedirect: boolean;
  readonly data: T;
}

export interface LocationMatch<T> {
  location: LocationEntry<T>;
  /** The regex match for "~" and "~*" locations, null otherwise. */
  captures: RegExpExecArray | null;
}

/** nginx's 301 to the location with its trailing "/"; the caller appends "?" + query. */
export interface LocationRedirect {
  redirectTo: string;
}

export type LocationResult<T> = LocationMatch<T> | LocationRedirect | null;

export interface LocationInput<T> {
  key: string;
  data: T;
  /** Set for locations served by proxy_pass (nginx sets it for every *_pass). */
  autoRedirect?: boolean;
}

export interface LocationExplanation<T> {
  path: string;
  match: LocationResult<T>;
  /** One sentence: which location and why. */
  reason: string;
  /** What was checked, in nginx's order, one line each. */
  steps: string[];
  exact: LocationEntry<T> | null;
  /** Every prefix location ("" and "^~") that matches, longest first. */
  prefixes: LocationEntry<T>[];
  longestPrefix: LocationEntry<T> | null;
  /** The location whose auto redirect answered, if any. */
  autoRedirect: LocationEntry<T> | null;
  /** False when an exact match, an auto redirect or a "^~" prefix ended the search first. */
  regexesChecked: boolean;
  /** Regex locations tried, in config order, up to the first that matched. */
  regexes: Array<{ location: LocationEntry<T>; matched: boolean }>;
}

export interface LocationMatcher<T> {
  /** `path` is a normalised `$uri` (see normalizePath). */
  match(path: string): LocationResult<T>;
  explain(path: string): LocationExplanation<T>;
  /** In config order. */
  readonly entries: readonly LocationEntry<T>[];
}

const MODIFIER_HINT = 'use "= /path", "^~ /path", "~ regex", "~* regex" or a plain "/path" prefix';

/**
 * Splits a NixOS-style location key ("= /x", "^~ /x", "~ re", "~* re", "/x";
 * nginx's one-word forms "=/x", "~*re" too) into modifier and pattern, and
 * checks it. Throws an Error whose one-line message says how to fix the key.
 */
export function parseLocationKey(key: string): ParsedLocationKey {
  const { modifier, pattern } = parseKey(key);
  return { modifier, pattern };
}

function parseKey(key: string): ParsedLocationKey & { regex: RegExp | null } {
  const k = key.trim();
  if (k === "") throw new Error(`location key is empty; ${MODIFIER_HINT}`);
  if (k[0] === "@") {
    throw new Error(`location "${key}": named locations ("@name") are not supported yet; use a prefix or regex location`);
  }
  let modifier: LocationModifier;
  let rest: string;
  const space = k.search(/\s/);
  if (space > 0) {
    // Two words, as nginx reads "location MODIFIER PATTERN": the first word is
    // exactly a modifier. A prefix with a space in it is let through (nginx
    // would need quotes); any other first word is a wrong modifier.
    const word = k.slice(0, space);
    if (word === "=" || word === "^~" || word === "~" || word === "~*") {
      modifier = word;
      rest = k.slice(space);
    } else if (word[0] === "/") {
      modifier = "";
      rest = k;
    } else {
      throw new Error(`location "${key}": unknown modifier "${word}"; ${MODIFIER_HINT}`);
    }
  } else if (k.startsWith("^~")) {
    // One word: ngx_http_core_location()'s order.
    modifier = "^~";
    rest = k.slice(2);
  } else if (k.startsWith("~*")) {
    modifier = "~*";
    rest = k.slice(2);
  } else if (k[0] === "~") {
    modifier = "~";
    rest = k.slice(1);
  } else if (k[0] === "=") {
    modifier = "=";
    rest = k.slice(1);
  } else {
    modifier = "";
    rest = k;
  }
  const pattern = rest.trimStart();
  if (pattern === "") {
    throw new Error(`location "${key}" has the modifier "${modifier}" but no pattern; write e.g. "${modifier} /path"`);
  }

  if (modifier === "~" || modifier === "~*") {
    try {
      return { modifier, pattern, regex: compileNginxRegex(pattern, modifier === "~*") };
    } catch (err) {
      throw new Error(`location "${key}": ${(err as Error).message}`);
    }
  }
  if (pattern[0] !== "/") {
    throw new Error(
      modifier === ""
        ? `location "${key}" must start with "/" (request paths always do); ${MODIFIER_HINT}`
        : `location "${key}": the path after "${modifier}" must start with "/", e.g. "${modifier} /${pattern}"`,
    );
  }
  return { modifier, pattern, regex: null };
}

interface Compiled<T> {
  entry: LocationEntry<T>;
  // Prebuilt so that match() returns a cached object for non-regex locations.
  result: LocationMatch<T>;
}

/**
 * Compiles the locations of one server. Precedence is nginx's: an exact "="
 * match; else the longest prefix, which ends the search if it is "^~"; else the
 * first regex in config order; else that longest prefix. Throws on a bad key or
 * a duplicate (nginx: "duplicate location").
 */
export function createLocationMatcher<T>(locations: ReadonlyArray<LocationInput<T>>): LocationMatcher<T> {
  const entries: LocationEntry<T>[] = [];
  const exact = new Map<string, Compiled<T>>();
  const prefixByPattern = new Map<string, Compiled<T>>();
  const regexes: Compiled<T>[] = [];
  const redirects = new Map<string, { entry: LocationEntry<T>; result: LocationRedirect }>();

  for (const input of locations) {
    const { modifier, pattern, regex } = parseKey(input.key);
    // ngx_http_proxy_pass() and the other *_pass set auto_redirect only when
    // the location name ends in "/"; regex locations never reach that code path.
    const autoRedirect = input.autoRedirect === true && regex === null && pattern.endsWith("/");
    const entry: LocationEntry<T> = Object.freeze({
      key: input.key,
      modifier,
      pattern,
      regex,
      autoRedirect,
      data: input.data,
    });
    entries.push(entry);
    const compiled: Compiled<T> = { entry, result: Object.freeze({ location: entry, captures: null }) };

    if (regex !== null) {
      // nginx never reports repeated regexes; the later one is unreachable.
      regexes.push(compiled);
      continue;
    }
    // ngx_http_join_exact_locations(): "= /a" may sit beside "/a" or "^~ /a",
    // but two exact, or two prefix ("" and "^~" alike), with one name clash.
    const table = modifier === "=" ? exact : prefixByPattern;
    const other = table.get(pattern);
    if (other !== undefined) {
      throw new Error(
        `duplicate location "${pattern}": keys "${other.entry.key}" and "${input.key}" both define ${
          modifier === "=" ? "the exact match" : "the prefix"
        } "${pattern}"; keep one of them`,
      );
    }
    table.set(pattern, compiled);
    if (autoRedirect && pattern.length > 1) {
      // The tree node of an exact and a prefix with one name redirects with the
      // exact one's config (ngx_http_core_find_static_location); the target is
      // the same escaped name either way.
      const bare = pattern.slice(0, -1);
      const known = redirects.get(bare);
      if (known === undefined || modifier === "=") {
        redirects.set(bare, { entry, result: Object.freeze({ redirectTo: escapeUri(pattern) }) });
      }
    }
  }

  // Longest first, so the first hit is nginx's longest matching prefix (its
  // location tree finds the same one). Equal lengths cannot both match.
  const prefixes = [...prefixByPattern.values()].sort((a, b) => b.entry.pattern.length - a.entry.pattern.length);

  function longestPrefix(path: string): Compiled<T> | null {
    for (let i = 0; i < prefixes.length; i++) {
      const c = prefixes[i];
      if (path.startsWith(c.entry.pattern)) return c;
    }
    return null;
  }

  function match(path: string): LocationResult<T> {
    const hit = exact.get(path);
    if (hit !== undefined) return hit.result;
    const prefix = longestPrefix(path);
    // Auto redirect: "/user" when "/user/" redirects. A prefix equal to the
    // whole path is found before the redirect node, so it wins; regexes are
    // not tried at all once the redirect is chosen.
    if (prefix === null || prefix.entry.pattern.length !== path.length) {
      const redirect = redirects.get(path);
      if (redirect !== undefined) return redirect.result;
    }
    if (prefix !== null && prefix.entry.modifier === "^~") return prefix.result;
    for (let i = 0; i < regexes.length; i++) {
      const c = regexes[i];
      const m = (c.entry.regex as RegExp).exec(path);
      if (m !== null) return { location: c.entry, captures: m };
    }
    return prefix === null ? null : prefix.result;
  }

  function explain(path: string): LocationExplanation<T> {
    const steps: string[] = [];
    const x: LocationExplanation<T> = {
      path,
      match: null,
      reason: "",
      steps,
      exact: null,
      prefixes: [],
      longestPrefix: null,
      autoRedirect: null,
      regexesChecked: false,
      regexes: [],
    };
    const hit = exact.get(path);
    if (hit !== undefined) {
      x.exact = hit.entry;
      x.match = hit.result;
      steps.push(`exact: "${hit.entry.key}" matches; an exact match ends the search`);
      x.reason = `"${hit.entry.key}" is an exact match for "${path}", which nginx uses before any prefix or regex.`;
      return x;
    }
    steps.push(exact.size === 0 ? "exact: there are no exact locations" : `exact: no location "= ${path}"`);

    for (const c of prefixes) {
      if (path.startsWith(c.entry.pattern)) x.prefixes.push(c.entry);
    }
    const prefix = longestPrefix(path);
    x.longestPrefix = prefix === null ? null : prefix.entry;
    if (x.prefixes.length === 0) {
      steps.push("prefix: none matches");
    } else {
      for (const e of x.prefixes) {
        steps.push(`prefix: "${e.key}" matches${e === x.longestPrefix ? " (the longest)" : ""}`);
      }
    }

    if (prefix === null || prefix.entry.pattern.length !== path.length) {
      const redirect = redirects.get(path);
      if (redirect !== undefined) {
        x.autoRedirect = redirect.entry;
        x.match = redirect.result;
        steps.push(`auto redirect: "${path}" is "${redirect.entry.pattern}" without its trailing slash and that location proxies; regexes are not tried`);
        x.reason = `"${path}" lacks the trailing slash of "${redirect.entry.key}", so nginx answers 301 to "${redirect.result.redirectTo}".`;
        return x;
      }
    }

    if (prefix !== null && prefix.entry.modifier === "^~") {
      x.match = prefix.result;
      if (regexes.length > 0) steps.push(`regex: skipped, the longest prefix "${prefix.entry.key}" has "^~"`);
      x.reason = `"${prefix.entry.key}" is the longest matching prefix and its "^~" turns off regex matching.`;
      return x;
    }

    x.regexesChecked = true;
    if (regexes.length === 0) steps.push("regex: there are no regex locations");
    for (const c of regexes) {
      const m = (c.entry.regex as RegExp).exec(path);
      x.regexes.push({ location: c.entry, matched: m !== null });
      steps.push(`regex: "${c.entry.key}" ${m !== null ? "matches, the first that does" : "does not match"}`);
      if (m !== null) {
        x.match = { location: c.entry, captures: m };
        x.reason =
          prefix === null
            ? `"${c.entry.key}" is the first regex that matches, and no prefix does.`
            : `"${c.entry.key}" is the first regex that matches; a matching regex wins over the longest prefix "${prefix.entry.key}".`;
        return x;
      }
    }

    if (prefix !== null) {
      x.match = prefix.result;
      x.reason = `"${prefix.entry.key}" is the longest matching prefix and no regex matches.`;
    } else {
      x.reason = `No location matches "${path}".`;
    }
    return x;
  }

  return { match, explain, entries: Object.freeze(entries) };
}

// --- PCRE to JavaScript -----------------------------------------------------

// Letter escapes that mean the same in PCRE and in a JS RegExp without the "u"
// flag. Any other letter escape is either PCRE-only or an error in PCRE, and
// JS would silently read it as the bare letter.
const SAME_ESCAPES = "bBdDsSwWfnrtcxk";

// POSIX classes, inside brackets only, as PCRE defines them without UTF.
const POSIX_CLASSES: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: "\\t\\n\\v\\f\\r ",
  blank: "\\t ",
  xdigit: "0-9A-Fa-f",
  word: "\\w",
  punct: "!-\\/:-@\\[-`{-~",
  cntrl: "\\x00-\\x1f\\x7f",
  print: "\\x20-\\x7e",
  graph: "\\x21-\\x7e",
};

/**
 * Compiles an nginx regex (PCRE, no options but caseless) as a JS RegExp with
 * the same meaning where JS can express it: `(?P<n>…)`, `(?'n'…)` and `(?P=n)`
 * become JS named groups and backreferences; a leading `(?i)` becomes the "i"
 * flag; `$` and `\Z` also match before a final "\n", `.` also matches "\r"
 * (PCRE's defaults); `\A`, `\z`, POSIX `[:classes:]` and a leading "]" in a
 * class are translated. PCRE-only escapes (`\h`, `\K`, `\Q`, `\p`, …) are
 * refused rather than misread. JS matches UTF-16 code units where nginx matches
 * bytes, which only shows for non-ASCII paths. Throws an Error with a short
 * message.
 */
export function compileNginxRegex(pattern: string, caseless: boolean): RegExp {
  let i = 0;
  let flags = caseless ? "i" : "";
  if (pattern.startsWith("(?i)")) {
    flags = "i";
    i = 4;
  }
  let out = "";
  let inClass = false;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) throw new Error("the regex ends with a lone backslash; escape it as \\\\");
      if (/[a-zA-Z]/.test(n)) {
        if (!inClass && n === "A") out += "^";
        else if (!inClass && n === "z") out += "$";
        else if (!inClass && n === "Z") out += "(?=\\n?$)";
        else if (n === "e") out += "\\x1b";
        else if (n === "a") out += "\\x07";
        else if (!SAME_ESCAPES.includes(n) || (n === "x" && pattern[i + 2] === "{") || (n === "k" && pattern[i + 2] !== "<")) {
          throw new Error(`the PCRE escape "\\${n}" has no JavaScript equivalent; rewrite it with a character class`);
        } else out += c + n;
      } else {
        out += c + n;
      }
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "[" && pattern[i + 1] === ":") {
        const end = pattern.indexOf(":]", i + 2);
        const name = end < 0 ? "" : pattern.slice(i + 2, end);
        if (/^\^?[a-z]+$/.test(name)) {
          const set = POSIX_CLASSES[name];
          if (set === undefined) {
            throw new Error(`the POSIX class "[:${name}:]" is not supported; write the characters out, e.g. [a-z]`);
          }
          out += set;
          i = end + 2;
          continue;
        }
      }
      if (c === "]") inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === "[") {
      // In PCRE a "]" right after "[" or "[^" is a literal; in JS "[]" is an
      // empty class.
      inClass = true;
      out += c;
      i++;
      if (pattern[i] === "^") {
        out += "^";
        i++;
      }
      if (pattern[i] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "$") {
      out += "(?=\\n?$)";
    } else if (c === ".") {
      out += "[^\\n]";
    } else if (pattern.startsWith("(?P<", i)) {
      out += "(?<";
      i += 4;
      continue;
    } else if (pattern.startsWith("(?'", i)) {
      const end = pattern.indexOf("'", i + 3);
      if (end < 0) throw new Error(`unterminated group name in "(?'"`);
      out += `(?<${pattern.slice(i + 3, end)}>`;
      i = end + 1;
      continue;
    } else if (pattern.startsWith("(?P=", i)) {
      const end = pattern.indexOf(")", i + 4);
      if (end < 0) throw new Error(`unterminated backreference "(?P="`);
      out += `\\k<${pattern.slice(i + 4, end)}>`;
      i = end + 1;
      continue;
    } else {
      out += c;
    }
    i++;
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    // V8 says "Invalid regular expression: /<translated source>/<flags>: <what>";
    // the source shown would be ours, not the user's, so keep only <what>.
    const what = (err as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "");
    throw new Error(`invalid regular expression: ${what}; check its brackets, escapes and quantifiers`);
  }
}
