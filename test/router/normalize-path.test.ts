import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodePathBytes, escapeUri, needsEscapeForProxy, normalizePath } from "../../src/router/normalize-path.js";

describe("normalizePath", () => {
  const cases: Array<[string, string | null]> = [
    // From the brief
    ["/proxy/../admin", "/admin"],
    ["/%61dmin", "/admin"],
    ["/a%2Fb", "/a/b"],
    ["/a/%2e%2e/b", "/b"],
    ["//a///b", "/a/b"],
    ["/..", null],
    ["/a/../../b", null],
    ["/a%00b", null],
    ["/%zz", null],
    ["/%C3%A9", "/é"],
    // Plain paths
    ["/", "/"],
    ["/index.html", "/index.html"],
    ["/a/", "/a/"],
    ["/a+b", "/a+b"],
    ["/a\\..\\b", "/a\\..\\b"], // "\" is a separator only in nginx for Windows
    ["/.well-known/acme", "/.well-known/acme"],
    ["/..a/.b/c..", "/..a/.b/c.."],
    // Dot segments, including at the end (nginx: sw_dot / sw_dot_dot at end)
    ["/.", "/"],
    ["/./", "/"],
    ["/a/.", "/a/"],
    ["/a/./b", "/a/b"],
    ["/a/..", "/"],
    ["/a/b/..", "/a/"],
    ["/a/b/../", "/a/"],
    ["/a/b/../../c", "/c"],
    ["/a/b/../../..", null],
    ["/../a", null],
    ["/a//..", "/"],
    ["/a//../b", "/b"],
    // Dots and slashes from %XX count as the real thing
    ["/%2e", "/"],
    ["/%2E%2E", null],
    ["/a/%2E%2E/b", "/b"],
    ["/a/.%2e/b", "/b"],
    ["/a/%2e./b", "/b"],
    ["/a/..%2Fb", "/b"],
    ["/a%2F..%2F..%2Fb", null],
    ["/a/b%2F%2F..%2Fc", "/a/c"],
    ["%2Fa", null],
    ["/%2F%2Fa", "/a"],
    // One decode only; decoded %, # and ? are data
    ["/a%2525", "/a%25"],
    ["/a%25b", "/a%b"],
    ["/a%23b", "/a#b"],
    ["/a%3Fb", "/a?b"],
    ["/a%3fb", "/a?b"],
    ["/..%3F", "/..?"],
    ["/a%2Bb", "/a+b"],
    ["/a%20b", "/a b"],
    ["/a%0Ab", "/a\nb"],
    ["/%41%42%43", "/ABC"],
    // A raw # or ? ends the path
    ["/a#frag", "/a"],
    ["/a/..#x", "/"],
    ["/a/.#x", "/a/"],
    ["/a?x=1", "/a"],
    ["/a/b/..?x", "/a/"],
    // Malformed escapes
    ["/%", null],
    ["/%4", null],
    ["/%4g", null],
    ["/a%", null],
    ["/%#", null],
    ["/%%41", null],
    ["/%00", null],
    // Not a path, or bytes the request line cannot carry
    ["", null],
    ["a/b", null],
    ["*", null],
    ["/a b", null],
    ["/a\tb", null],
    ["/a\x7fb", null],
    ["/a\x00b", null],
    // UTF-8
    ["/%E2%82%AC", "/€"],
    ["/%F0%9F%98%80", "/😀"],
    ["/%FF", "/\uDCFF"], // invalid UTF-8: the byte is kept (surrogateescape), not replaced
    ["/%EF%BF%BD", "/\uFFFD"], // a real U+FFFD stays one
    ["/%C3%A9%E9", "/é\uDCE9"],
    ["/%E2%82", "/\uDCE2\uDC82"], // a sequence cut short
    ["/\xC3\xA9", "/é"], // raw bytes, as Node's parser gives them (latin1)
    ["/a/\xC3\xA9/../b", "/a/b"],
    ["/€", null], // a char above 0xFF cannot come from the wire
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(input), expected);
    });
  }

  it("returns a plain path as it is", () => {
    const raw = "/api/v1/users/42";
    assert.equal(normalizePath(raw), raw);
  });

  it("agrees with a segment-by-segment reference on random paths", () => {
    const pieces = [
      "a",
      "b",
      "/",
      "/",
      ".",
      "..",
      "%2e",
      "%2E",
      "%2f",
      "%2F",
      "%25",
      "%23",
      "%3F",
      "%41",
      "%C3%A9",
      "\xC3",
      "\xA9",
      "+",
      "~",
      "\\",
      "#",
      "?",
      "%",
      "%g1",
      "%00",
    ];
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let n = 0; n < 20000; n++) {
      let path = "/";
      const count = 1 + rand(9);
      for (let i = 0; i < count; i++) path += pieces[rand(pieces.length)];
      assert.equal(normalizePath(path), reference(path), `path ${JSON.stringify(path)}`);
    }
  });
});

// Independent model of nginx's $uri: cut at a raw # or ?, decode every %XX
// once (a decoded "/" separates, a decoded "." is a dot), then resolve the
// segments with merged slashes.
function reference(raw: string): string | null {
  const cut = raw.search(/[#?]/);
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
    const b = Number.parseInt(hex, 16);
    if (b === 0) return null;
    bytes.push(b);
    i += 2;
  }
  const text = Buffer.from(bytes).toString("latin1");
  const parts = text.split("/").slice(1);
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(part);
  }
  const last = parts[parts.length - 1];
  const trailing = last === "" || last === "." || last === "..";
  const joined = `/${out.join("/")}${trailing && out.length > 0 ? "/" : ""}`;
  return decodePathBytes(Buffer.from(joined, "latin1"));
}

describe("escapeUri", () => {
  it("gives back the bytes of invalid UTF-8 that normalizePath kept", () => {
    assert.equal(escapeUri(normalizePath("/q/%E9") as string), "/q/%E9");
    assert.equal(escapeUri(normalizePath("/%C3%A9%FF/x") as string), "/%C3%A9%FF/x");
    assert.equal(decodePathBytes(Buffer.from([0x2f, 0xe2, 0x82])), "/\uDCE2\uDC82");
  });

  it("escapes exactly nginx's NGX_ESCAPE_URI set in ASCII", () => {
    const escaped = new Set([...' "#%<>?\\^`{|}\x7f'].map((c) => c.charCodeAt(0)));
    for (let c = 0; c < 0x20; c++) escaped.add(c);
    for (let c = 0; c < 0x80; c++) {
      const ch = String.fromCharCode(c);
      const want = escaped.has(c) ? `%${c.toString(16).toUpperCase().padStart(2, "0")}` : ch;
      assert.equal(escapeUri(ch), want, `char 0x${c.toString(16)}`);
    }
  });

  it("leaves what RFC 3986 allows in a path, returning the same string", () => {
    const path = "/az/AZ/09/-._~/!$&'()*+,;=/:@[]";
    assert.equal(escapeUri(path), path);
  });

  it("escapes the UTF-8 bytes of non-ASCII chars, upper-case hex", () => {
    assert.equal(escapeUri("/é"), "/%C3%A9");
    assert.equal(escapeUri("/a b/€"), "/a%20b/%E2%82%AC");
    assert.equal(escapeUri("/😀"), "/%F0%9F%98%80");
    assert.equal(escapeUri("/\u0080\u07ff\u0800\uffff"), "/%C2%80%DF%BF%E0%A0%80%EF%BF%BF");
    assert.equal(escapeUri("/\ud800x"), "/%EF%BF%BDx"); // a lone surrogate, as TextEncoder
  });

  it("round-trips through normalizePath for decodable paths", () => {
    for (const path of ["/a b/c%d", "/é/ü?#", "/x\ny", "/%2525"]) {
      const raw = escapeUri(path);
      assert.equal(normalizePath(raw), path.replace(/\/+/g, "/"));
    }
  });
});

describe("needsEscapeForProxy (nginx r->quoted_uri)", () => {
  const cases: Array<[string, boolean]> = [
    ["/a/b", false],
    ["/a/../b", false],
    ["/a%20b", true],
    ["/%", true],
    ["/a?x=%20", false],
    ["/a#%20", false],
    ["/a%2F?x", true],
  ];
  for (const [raw, expected] of cases) {
    it(`${JSON.stringify(raw)} → ${expected}`, () => assert.equal(needsEscapeForProxy(raw), expected));
  }
});
