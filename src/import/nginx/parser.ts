/**
 * nginx's config syntax, read as nginx reads it (src/core/ngx_conf_file.c, ngx_conf_read_token):
 * directives end in `;`, blocks in `{ … }`, `#` starts a comment only where a word could start,
 * quoted strings take `\"`, `\'`, `\\`, `\t`, `\r`, `\n` escapes, `${var}` stays one word, and
 * `include` (globs too) is resolved relative to the directory of the main file (nginx's conf
 * prefix). OpenResty's `*_by_lua_block { … }` holds Lua, not nginx syntax: its text is kept raw.
 * Every directive keeps its file, line and source span.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { PorticoError } from "../../errors.js";

export interface Directive {
  name: string;
  args: string[];
  file: string;
  line: number;
  /** Offsets of the directive in its file: from its name to its `;` or `}` (inclusive). */
  start: number;
  end: number;
  /** The directives of its `{ … }` block, if it has one. */
  block?: Directive[];
  /** `*_by_lua_block`: the Lua between the braces, as written. */
  lua?: string;
  /** Set on the directives an `include` brought in. */
  includedFrom?: { file: string; line: number };
}

/** A config nginx would refuse to read: the message says where, as `file:line`. */
export class NginxParseError extends PorticoError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super("PTC_ERR_IMPORT_PARSE", `${file}:${line}: ${message}`);
    this.name = "NginxParseError";
    this.file = file;
    this.line = line;
  }
}

export interface ParseOptions {
  /** Directory relative `include`s are resolved against (default: the main file's directory, nginx's conf prefix). */
  prefix?: string;
  /** Called for an `include` without wildcards whose file does not exist; by default that is an error, as in nginx. */
  onMissingInclude?: (directive: Directive) => void;
}

type Token = { kind: "word"; value: string; line: number; start: number; quoted: boolean } | { kind: ";" | "{" | "}"; line: number; start: number };

const LUA_BLOCK = /_by_lua_block$/;

/** Splits nginx config text into words and `;`, `{`, `}`; a Lua block's body comes back as one word. */
class Lexer {
  #pos = 0;
  #line = 1;
  readonly #text: string;
  readonly #file: string;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
  }

  get line(): number {
    return this.#line;
  }

  fail(line: number, message: string): never {
    throw new NginxParseError(this.#file, line, message);
  }

  #skipSpaceAndComments(): void {
    const text = this.#text;
    while (this.#pos < text.length) {
      const ch = text[this.#pos];
      if (ch === "\n") {
        this.#line++;
        this.#pos++;
      } else if (ch === " " || ch === "\t" || ch === "\r") {
        this.#pos++;
      } else if (ch === "#") {
        while (this.#pos < text.length && text[this.#pos] !== "\n") this.#pos++;
      } else {
        return;
      }
    }
  }

  next(): Token | null {
    this.#skipSpaceAndComments();
    const text = this.#text;
    if (this.#pos >= text.length) return null;
    const start = this.#pos;
    const line = this.#line;
    const ch = text[start] as string;
    if (ch === ";" || ch === "{" || ch === "}") {
      this.#pos++;
      return { kind: ch, line, start };
    }
    if (ch === '"' || ch === "'") {
      let raw = "";
      this.#pos++;
      for (;;) {
        if (this.#pos >= text.length) this.fail(line, `unexpected end of file: the string opened with ${ch} is not closed`);
        const c = text[this.#pos] as string;
        if (c === "\\" && this.#pos + 1 < text.length) {
          raw += c + text[this.#pos + 1];
          if (text[this.#pos + 1] === "\n") this.#line++;
          this.#pos += 2;
          continue;
        }
        if (c === "\n") this.#line++;
        this.#pos++;
        if (c === ch) break;
        raw += c;
      }
      const after = text[this.#pos];
      if (after !== undefined && !/[\s;{)]/.test(after)) this.fail(this.#line, `unexpected "${after}" after a quoted string`);
      return { kind: "word", value: unescapeNginx(raw), line, start, quoted: true };
    }
    let raw = "";
    let variable = false;
    while (this.#pos < text.length) {
      const c = text[this.#pos] as string;
      if (c === "\\" && this.#pos + 1 < text.length) {
        raw += c + text[this.#pos + 1];
        this.#pos += 2;
        variable = false;
        continue;
      }
      // `${name}`: a "{" right after "$" belongs to the word (nginx: `if (ch == '{' && variable) continue`);
      // quotes and "}" inside a word are plain characters, as in nginx.
      if (c === "{" && variable) {
        raw += c;
        this.#pos++;
        variable = false;
        continue;
      }
      if (c === " " || c === "\t" || c === "\r" || c === "\n" || c === ";" || c === "{") break;
      variable = c === "$";
      raw += c;
      this.#pos++;
    }
    return { kind: "word", value: unescapeNginx(raw), line, start, quoted: false };
  }

  /** After `xxx_by_lua_block`: the `{`, then Lua up to its matching `}`, skipping Lua strings and comments. */
  luaBlock(directiveLine: number): { body: string; end: number } {
    this.#skipSpaceAndComments();
    const text = this.#text;
    if (text[this.#pos] !== "{") this.fail(this.#line, 'a *_by_lua_block directive needs a "{"');
    const bodyStart = ++this.#pos;
    let depth = 1;
    while (this.#pos < text.length) {
      const c = text[this.#pos] as string;
      if (c === "\n") {
        this.#line++;
        this.#pos++;
      } else if (c === "-" && text[this.#pos + 1] === "-") {
        const long = /^--\[(=*)\[/.exec(text.slice(this.#pos, this.#pos + 64));
        if (long) this.#skipLongBracket(long[1] as string, this.#pos + long[0].length, directiveLine);
        else while (this.#pos < text.length && text[this.#pos] !== "\n") this.#pos++;
      } else if (c === "[" && /^\[=*\[/.test(text.slice(this.#pos, this.#pos + 64))) {
        const long = /^\[(=*)\[/.exec(text.slice(this.#pos, this.#pos + 64)) as RegExpExecArray;
        this.#skipLongBracket(long[1] as string, this.#pos + long[0].length, directiveLine);
      } else if (c === '"' || c === "'") {
        this.#pos++;
        while (this.#pos < text.length && text[this.#pos] !== c) {
          if (text[this.#pos] === "\\") this.#pos++;
          else if (text[this.#pos] === "\n") this.#line++;
          this.#pos++;
        }
        this.#pos++;
      } else {
        if (c === "{") depth++;
        else if (c === "}" && --depth === 0) {
          const body = text.slice(bodyStart, this.#pos);
          this.#pos++;
          return { body, end: this.#pos - 1 };
        }
        this.#pos++;
      }
    }
    return this.fail(directiveLine, "unexpected end of file: the Lua block is not closed");
  }

  #skipLongBracket(level: string, from: number, directiveLine: number): void {
    const close = `]${level}]`;
    const end = this.#text.indexOf(close, from);
    if (end === -1) this.fail(directiveLine, "unexpected end of file in a Lua long string or comment");
    for (let i = this.#pos; i < end; i++) if (this.#text[i] === "\n") this.#line++;
    this.#pos = end + close.length;
  }
}

/** nginx's escapes, in and out of quotes: \" \' \\ \t \r \n; any other backslash stays. */
function unescapeNginx(raw: string): string {
  if (!raw.includes("\\")) return raw;
  return raw.replace(/\\(["'\\trn])/g, (_all, c: string) => (c === "t" ? "\t" : c === "r" ? "\r" : c === "n" ? "\n" : c));
}

/** Parses one file's text (no includes resolved). */
export function parseNginxText(text: string, file: string): Directive[] {
  const lexer = new Lexer(text, file);
  const stack: Directive[][] = [[]];
  const openers: Directive[] = [];
  let words: Array<Extract<Token, { kind: "word" }>> = [];
  for (;;) {
    const token = lexer.next();
    if (token === null) break;
    if (token.kind === "word") {
      words.push(token);
      if (words.length === 1 && LUA_BLOCK.test(token.value)) {
        const { body, end } = lexer.luaBlock(token.line);
        (stack.at(-1) as Directive[]).push({ name: token.value, args: [], file, line: token.line, start: token.start, end, lua: body });
        words = [];
      }
      continue;
    }
    if (token.kind === "}") {
      if (words.length > 0) lexer.fail(token.line, `unexpected "}": "${words[0]?.value}" is missing its ";"`);
      if (stack.length === 1) lexer.fail(token.line, 'unexpected "}"');
      stack.pop();
      (openers.pop() as Directive).end = token.start;
      continue;
    }
    const [first, ...rest] = words;
    if (first === undefined) lexer.fail(token.line, `unexpected "${token.kind}"`);
    if (first.quoted && first.value === "") lexer.fail(first.line, "a directive name cannot be empty");
    const directive: Directive = { name: first.value, args: rest.map((word) => word.value), file, line: first.line, start: first.start, end: token.start };
    (stack.at(-1) as Directive[]).push(directive);
    words = [];
    if (token.kind === "{") {
      directive.block = [];
      stack.push(directive.block);
      openers.push(directive);
    }
  }
  if (words.length > 0) lexer.fail(lexer.line, `unexpected end of file, expecting ";" or "}" after "${words[0]?.value}"`);
  if (stack.length > 1) lexer.fail(lexer.line, `unexpected end of file, expecting "}" to close "${openers.at(-1)?.name}" (line ${openers.at(-1)?.line})`);
  return stack[0] as Directive[];
}

/** Reads FILE and every file it includes; `include` directives are replaced by what they bring. */
export function parseNginxFile(file: string, options: ParseOptions = {}): Directive[] {
  const main = resolve(file);
  const prefix = options.prefix ?? dirname(main);
  return readExpanded(main, prefix, options, []);
}

function readExpanded(file: string, prefix: string, options: ParseOptions, chain: string[]): Directive[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const where = chain.at(-1);
    throw new NginxParseError(where ?? file, 0, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return expand(parseNginxText(text, file), prefix, options, [...chain, file]);
}

function expand(directives: Directive[], prefix: string, options: ParseOptions, chain: string[]): Directive[] {
  const out: Directive[] = [];
  for (const directive of directives) {
    if (directive.name !== "include") {
      if (directive.block) directive.block = expand(directive.block, prefix, options, chain);
      out.push(directive);
      continue;
    }
    if (directive.args.length !== 1) throw new NginxParseError(directive.file, directive.line, "include takes one file name or glob");
    const pattern = directive.args[0] as string;
    const full = isAbsolute(pattern) ? pattern : join(prefix, pattern);
    const files = /[*?[]/.test(pattern) ? glob(full) : [full];
    for (const included of files) {
      if (!/[*?[]/.test(pattern) && !exists(included)) {
        if (options.onMissingInclude) {
          options.onMissingInclude(directive);
          break;
        }
        throw new NginxParseError(directive.file, directive.line, `include: ${included} does not exist`);
      }
      if (chain.includes(included)) throw new NginxParseError(directive.file, directive.line, `include: ${included} includes itself`);
      for (const brought of readExpanded(included, prefix, options, chain)) {
        brought.includedFrom ??= { file: directive.file, line: directive.line };
        out.push(brought);
      }
    }
  }
  return out;
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** glob(3) as nginx calls it: `*`, `?`, `[…]` in any segment; results sorted; no match is no error. */
export function glob(pattern: string): string[] {
  const segments = pattern.split("/");
  let bases = [segments[0] === "" ? "/" : (segments[0] as string)];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === "") continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!/[*?[]/.test(segment)) {
        next.push(join(base, segment));
        continue;
      }
      const re = segmentRegExp(segment);
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      for (const name of names.sort()) if (re.test(name) && (segment.startsWith(".") || !name.startsWith("."))) next.push(join(base, name));
    }
    bases = next;
  }
  return bases.filter(exists).sort();
}

function segmentRegExp(segment: string): RegExp {
  let source = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const close = segment.indexOf("]", i + 2);
      if (close === -1) source += "\\[";
      else {
        const body = segment.slice(i + 1, close);
        source += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
