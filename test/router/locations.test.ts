import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileNginxRegex, createLocationMatcher, type LocationInput, type LocationResult, parseLocationKey } from "../../src/router/locations.js";

/** The data of the chosen location, "301 <target>" for a redirect, or null. */
function pick<T>(result: LocationResult<T>): T | string | null {
  if (result === null) return null;
  if ("redirectTo" in result) return `301 ${result.redirectTo}`;
  return result.location.data;
}

function matcher(keys: Array<string | [string, boolean]>) {
  const inputs: LocationInput<string>[] = keys.map((k) => (typeof k === "string" ? { key: k, data: k } : { key: k[0], data: k[0], autoRedirect: k[1] }));
  return createLocationMatcher(inputs);
}

describe("parseLocationKey", () => {
  const good: Array<[string, string, string]> = [
    ["/", "", "/"],
    ["/api/", "", "/api/"],
    ["= /exact", "=", "/exact"],
    ["=/exact", "=", "/exact"],
    ["^~ /images/", "^~", "/images/"],
    ["^~/images/", "^~", "/images/"],
    ["~ \\.php$", "~", "\\.php$"],
    ["~\\.php$", "~", "\\.php$"],
    ["~* \\.(gif|jpg)$", "~*", "\\.(gif|jpg)$"],
    ["~*\\.(gif|jpg)$", "~*", "\\.(gif|jpg)$"],
    ["  /padded  ", "", "/padded"],
    ["=   /many-spaces", "=", "/many-spaces"],
    ["/with space", "", "/with space"],
    ["~ ^/a b$", "~", "^/a b$"],
    ["=\t/tab", "=", "/tab"],
  ];
  for (const [key, modifier, pattern] of good) {
    it(`parses ${JSON.stringify(key)}`, () => {
      assert.deepEqual(parseLocationKey(key), { modifier, pattern });
    });
  }

  const bad: Array<[string, RegExp]> = [
    ["", /location key is empty; use "= \/path"/],
    ["   ", /location key is empty/],
    ["@fallback", /named locations \("@name"\) are not supported yet; use a prefix or regex location/],
    ["=", /has the modifier "=" but no pattern; write e\.g\. "= \/path"/],
    ["^~ ", /has the modifier "\^~" but no pattern/],
    ["~", /has the modifier "~" but no pattern/],
    ["~*", /has the modifier "~\*" but no pattern/],
    ["api/", /location "api\/" must start with "\/" \(request paths always do\)/],
    ["^ /x", /location "\^ \/x": unknown modifier "\^"; use "= \/path", "\^~ \/path", "~ regex", "~\* regex" or a plain "\/path" prefix/],
    ["~~ /x", /location "~~ \/x": unknown modifier "~~"/],
    ["=/a b", /location "=\/a b": unknown modifier "=\/a"/],
    ["~*foo bar", /unknown modifier "~\*foo"/],
    ["== /x", /location "== \/x": unknown modifier "=="/],
    ["==/x", /the path after "=" must start with "\/", e\.g\. "= \/=\/x"/],
    ["= x", /the path after "=" must start with "\/", e\.g\. "= \/x"/],
    ["^~ images/", /the path after "\^~" must start with "\/"/],
    ["~ ^/(a", /location "~ \^\/\(a": invalid regular expression: Unterminated group; check its brackets/],
    ["~ *foo", /location "~ \*foo": invalid regular expression: Nothing to repeat/],
    ["~ a{2,1}", /invalid regular expression: numbers out of order/],
    ["~ \\h", /the PCRE escape "\\h" has no JavaScript equivalent/],
    ["~ (?>atomic)", /invalid regular expression: Invalid group/],
  ];
  for (const [key, message] of bad) {
    it(`rejects ${JSON.stringify(key)} with a one-line message`, () => {
      assert.throws(
        () => parseLocationKey(key),
        (err: Error) => {
          assert.match(err.message, message);
          assert.ok(!err.message.includes("\n"));
          return true;
        },
      );
    });
  }
});

describe("compileNginxRegex (PCRE to JS)", () => {
  it("turns (?P<name>…) and (?'name'…) into JS named groups", () => {
    const m = compileNginxRegex("^/u/(?P<id>\\d+)/(?'tab'\\w+)$", false).exec("/u/42/posts");
    assert.equal(m?.groups?.id, "42");
    assert.equal(m?.groups?.tab, "posts");
  });

  it("turns (?P=name) into a backreference", () => {
    const re = compileNginxRegex("^/(?P<x>[a-z]+)/(?P=x)$", false);
    assert.ok(re.test("/ab/ab"));
    assert.ok(!re.test("/ab/cd"));
  });

  it("is caseless for ~* and for a leading (?i)", () => {
    assert.ok(compileNginxRegex("\\.jpg$", true).test("/A.JPG"));
    assert.ok(compileNginxRegex("(?i)\\.jpg$", false).test("/A.JPG"));
    assert.ok(!compileNginxRegex("\\.jpg$", false).test("/A.JPG"));
  });

  it("keeps PCRE's $ (also before a final newline) and . (not newline only)", () => {
    const dollar = compileNginxRegex("\\.php$", false);
    assert.ok(dollar.test("/x.php"));
    assert.ok(dollar.test("/x.php\n"));
    assert.ok(!dollar.test("/x.php\nx"));
    assert.ok(compileNginxRegex("^/a.$", false).test("/a\r"));
    assert.ok(!compileNginxRegex("^/a.$", false).test("/a\n"));
    assert.ok(compileNginxRegex("^/a[.$]", false).test("/a$"), "inside a class . and $ stay literal");
  });

  it("translates \\A, \\z, \\Z, POSIX classes and a leading ] in a class", () => {
    assert.ok(compileNginxRegex("\\A/a\\z", false).test("/a"));
    assert.ok(!compileNginxRegex("\\A/a\\z", false).test("/a\n"));
    assert.ok(compileNginxRegex("\\A/a\\Z", false).test("/a\n"));
    assert.ok(compileNginxRegex("^/[[:digit:]]+$", false).test("/123"));
    assert.ok(!compileNginxRegex("^/[[:digit:]]+$", false).test("/12a"));
    assert.ok(compileNginxRegex("^/[]a]+$", false).test("/]a]"));
    assert.ok(compileNginxRegex("^/[^]a]+$", false).test("/bcd"));
  });

  it("refuses PCRE-only syntax instead of misreading it", () => {
    for (const source of ["\\Qa.b\\E", "\\K", "\\p{L}", "\\x{41}", "\\v", "[[:^alpha:]]", "\\"]) {
      assert.throws(() => compileNginxRegex(source, false), Error, source);
    }
  });
});

describe("createLocationMatcher", () => {
  it("follows nginx's documented example (configurations A to E)", () => {
    const m = createLocationMatcher([
      { key: "= /", data: "A" },
      { key: "/", data: "B" },
      { key: "/documents/", data: "C" },
      { key: "^~ /images/", data: "D" },
      { key: "~* \\.(gif|jpg|jpeg)$", data: "E" },
    ]);
    assert.equal(pick(m.match("/")), "A");
    assert.equal(pick(m.match("/index.html")), "B");
    assert.equal(pick(m.match("/documents/document.html")), "C");
    assert.equal(pick(m.match("/images/1.gif")), "D");
    assert.equal(pick(m.match("/documents/1.jpg")), "E");
  });

  it("routes the reference setup by longest prefix", () => {
    const m = matcher(["/", "/version", "/proxy", "/proxy/rewrite"]);
    assert.equal(pick(m.match("/")), "/");
    assert.equal(pick(m.match("/anything")), "/");
    assert.equal(pick(m.match("/version")), "/version");
    assert.equal(pick(m.match("/versions")), "/version");
    assert.equal(pick(m.match("/proxy")), "/proxy");
    assert.equal(pick(m.match("/proxyfoo")), "/proxy");
    assert.equal(pick(m.match("/proxy/x")), "/proxy");
    assert.equal(pick(m.match("/proxy/rewrite")), "/proxy/rewrite");
    assert.equal(pick(m.match("/proxy/rewrite/anything")), "/proxy/rewrite");
  });

  it("is case-sensitive for prefixes and exact matches (Unix nginx)", () => {
    const m = matcher(["= /Exact", "/api/"]);
    assert.equal(pick(m.match("/Exact")), "= /Exact");
    assert.equal(pick(m.match("/exact")), null);
    assert.equal(pick(m.match("/API/x")), null);
  });

  it("returns null when nothing matches", () => {
    assert.equal(matcher(["/api/", "= /x", "~ ^/y"]).match("/z"), null);
    assert.equal(matcher([]).match("/"), null);
  });

  it("tries regexes in config order, the first match wins", () => {
    const m = matcher(["~ ^/a", "~ ^/a/b", "~* ^/A/B/C"]);
    assert.equal(pick(m.match("/a/b/c")), "~ ^/a");
    const reversed = matcher(["~ ^/a/b", "~ ^/a"]);
    assert.equal(pick(reversed.match("/a/b/c")), "~ ^/a/b");
    assert.equal(pick(reversed.match("/a/x")), "~ ^/a");
  });

  it("matches ~* case-insensitively and ~ case-sensitively", () => {
    const m = matcher(["~ \\.PHP$", "~* \\.jpg$"]);
    assert.equal(pick(m.match("/x.JPG")), "~* \\.jpg$");
    assert.equal(pick(m.match("/x.jpg")), "~* \\.jpg$");
    assert.equal(pick(m.match("/x.PHP")), "~ \\.PHP$");
    assert.equal(pick(m.match("/x.php")), null);
  });

  it("lets a regex beat a longer plain prefix, not a ^~ one", () => {
    const m = matcher(["/static/", "^~ /assets/", "~ \\.css$"]);
    assert.equal(pick(m.match("/static/site.css")), "~ \\.css$");
    assert.equal(pick(m.match("/assets/site.css")), "^~ /assets/");
    assert.equal(pick(m.match("/static/site.js")), "/static/");
  });

  it("looks only at the longest prefix's ^~, not a shorter one's", () => {
    const m = matcher(["^~ /a/", "/a/b/", "~ \\.txt$"]);
    assert.equal(pick(m.match("/a/b/x.txt")), "~ \\.txt$");
    assert.equal(pick(m.match("/a/x.txt")), "^~ /a/");
  });

  it("gives an exact match priority over everything", () => {
    const m = matcher(["= /a/x.jpg", "^~ /a/", "/a/x.jpg", "~ \\.jpg$", "= /", "/"]);
    assert.equal(pick(m.match("/a/x.jpg")), "= /a/x.jpg");
    assert.equal(pick(m.match("/a/x.jpgz")), "/a/x.jpg");
    assert.equal(pick(m.match("/")), "= /");
  });

  it("allows an exact location beside a prefix or ^~ of the same path", () => {
    const m = matcher(["= /a", "^~ /a"]);
    assert.equal(pick(m.match("/a")), "= /a");
    assert.equal(pick(m.match("/ab")), "^~ /a");
  });

  it("hands out regex captures, and none for other locations", () => {
    const m = matcher(["/", "~ ^/users/(?P<id>\\d+)/(\\w+)$"]);
    const hit = m.match("/users/42/posts");
    assert.ok(hit !== null && "location" in hit);
    assert.equal(hit.captures?.[1], "42");
    assert.equal(hit.captures?.[2], "posts");
    assert.equal(hit.captures?.groups?.id, "42");
    const plain = m.match("/users/x");
    assert.ok(plain !== null && "location" in plain);
    assert.equal(plain.captures, null);
  });

  it("returns the same cached object for non-regex matches", () => {
    const m = matcher(["= /x", "/", "^~ /s/"]);
    assert.equal(m.match("/x"), m.match("/x"));
    assert.equal(m.match("/a"), m.match("/b"));
    assert.equal(m.match("/s/1"), m.match("/s/2"));
  });

  it("keeps the entries in config order with their parsed parts", () => {
    const m = createLocationMatcher([
      { key: "~* \\.png$", data: 1 },
      { key: "/api/", data: 2, autoRedirect: true },
      { key: "= /x", data: 3 },
    ]);
    assert.deepEqual(
      m.entries.map((e) => [e.key, e.modifier, e.pattern, e.regex?.flags ?? null, e.autoRedirect, e.data]),
      [
        ["~* \\.png$", "~*", "\\.png$", "i", false, 1],
        ["/api/", "", "/api/", null, true, 2],
        ["= /x", "=", "/x", null, false, 3],
      ],
    );
    assert.ok(Object.isFrozen(m.entries));
  });

  describe("auto redirect (nginx: proxy_pass in a location ending in /)", () => {
    it("redirects the path without the trailing slash", () => {
      const m = matcher(["/", ["/user/", true]]);
      assert.equal(pick(m.match("/user")), "301 /user/");
      assert.equal(pick(m.match("/user/")), "/user/");
      assert.equal(pick(m.match("/user/x")), "/user/");
      assert.equal(pick(m.match("/use")), "/");
      assert.equal(pick(m.match("/users")), "/");
    });

    it("is off without autoRedirect, and for locations not ending in /", () => {
      assert.equal(pick(matcher(["/", "/user/"]).match("/user")), "/");
      const m = matcher(["/", ["/user", true]]);
      assert.equal(m.entries[1]?.autoRedirect, false);
      assert.equal(pick(m.match("/use")), "/");
    });

    it("loses to an exact location for the bare path", () => {
      const m = matcher([["/user/", true], "= /user"]);
      assert.equal(pick(m.match("/user")), "= /user");
    });

    it("loses to a prefix location equal to the bare path", () => {
      const m = matcher([["/user/", true], "/user", "~ ^/user$"]);
      assert.equal(pick(m.match("/user")), "~ ^/user$");
      assert.equal(pick(matcher([["/user/", true], "/user"]).match("/user")), "/user");
    });

    it("wins over regexes and over a shorter prefix", () => {
      const m = matcher(["/", "^~ /u", ["/user/", true], "~ ^/user$", "~ .*"]);
      assert.equal(pick(m.match("/user")), "301 /user/");
    });

    it("applies to exact and ^~ locations too", () => {
      assert.equal(pick(matcher([["= /user/", true]]).match("/user")), "301 /user/");
      assert.equal(pick(matcher([["^~ /user/", true]]).match("/user")), "301 /user/");
    });

    it("escapes the Location as nginx does (escaped_name)", () => {
      const m = matcher([["/a b/é/", true]]);
      assert.equal(pick(m.match("/a b/é")), "301 /a%20b/%C3%A9/");
    });

    it("returns a cached redirect object", () => {
      const m = matcher([["/user/", true]]);
      assert.equal(m.match("/user"), m.match("/user"));
    });
  });

  describe("duplicates (nginx: duplicate location)", () => {
    const dupes: Array<[string, string]> = [
      ["/a", "/a"],
      ["/a", "^~ /a"],
      ["^~ /a", "^~/a"],
      ["= /a", "=/a"],
    ];
    for (const [first, second] of dupes) {
      it(`rejects ${JSON.stringify(first)} with ${JSON.stringify(second)}`, () => {
        assert.throws(
          () => matcher([first, second]),
          new RegExp(
            `duplicate location "/a": keys "${escapeRe(first)}" and "${escapeRe(second)}" both define the (prefix|exact match) "/a"; keep one of them$`,
          ),
        );
      });
    }

    it("allows the same regex twice, as nginx (the second is unreachable)", () => {
      const m = matcher(["~ ^/a", "~  ^/a"]);
      assert.equal(pick(m.match("/a")), "~ ^/a");
    });
  });

  it("reports a bad key from createLocationMatcher too", () => {
    assert.throws(() => matcher(["/ok", "@named"]), /named locations/);
  });
});

describe("explain", () => {
  const m = createLocationMatcher([
    { key: "= /", data: "A" },
    { key: "/", data: "B" },
    { key: "/documents/", data: "C" },
    { key: "^~ /images/", data: "D" },
    { key: "~* \\.(gif|jpg|jpeg)$", data: "E" },
    { key: "/user/", data: "F", autoRedirect: true },
  ]);

  it("explains an exact match", () => {
    const x = m.explain("/");
    assert.equal(pick(x.match), "A");
    assert.equal(x.exact?.key, "= /");
    assert.equal(x.regexesChecked, false);
    assert.deepEqual(x.steps, ['exact: "= /" matches; an exact match ends the search']);
    assert.equal(x.reason, '"= /" is an exact match for "/", which nginx uses before any prefix or regex.');
  });

  it("explains a regex beating the longest prefix", () => {
    const x = m.explain("/documents/1.jpg");
    assert.equal(pick(x.match), "E");
    assert.deepEqual(
      x.prefixes.map((e) => e.key),
      ["/documents/", "/"],
    );
    assert.equal(x.longestPrefix?.key, "/documents/");
    assert.equal(x.regexesChecked, true);
    assert.deepEqual(
      x.regexes.map((r) => [r.location.key, r.matched]),
      [["~* \\.(gif|jpg|jpeg)$", true]],
    );
    assert.deepEqual(x.steps, [
      'exact: no location "= /documents/1.jpg"',
      'prefix: "/documents/" matches (the longest)',
      'prefix: "/" matches',
      'regex: "~* \\.(gif|jpg|jpeg)$" matches, the first that does',
    ]);
    assert.equal(x.reason, '"~* \\.(gif|jpg|jpeg)$" is the first regex that matches; a matching regex wins over the longest prefix "/documents/".');
  });

  it("explains ^~ stopping the regex search", () => {
    const x = m.explain("/images/1.gif");
    assert.equal(pick(x.match), "D");
    assert.equal(x.regexesChecked, false);
    assert.deepEqual(x.regexes, []);
    assert.equal(x.steps.at(-1), 'regex: skipped, the longest prefix "^~ /images/" has "^~"');
    assert.equal(x.reason, '"^~ /images/" is the longest matching prefix and its "^~" turns off regex matching.');
  });

  it("explains the longest prefix when no regex matches", () => {
    const x = m.explain("/documents/a.html");
    assert.equal(pick(x.match), "C");
    assert.deepEqual(
      x.regexes.map((r) => r.matched),
      [false],
    );
    assert.equal(x.steps.at(-1), 'regex: "~* \\.(gif|jpg|jpeg)$" does not match');
    assert.equal(x.reason, '"/documents/" is the longest matching prefix and no regex matches.');
  });

  it("explains an auto redirect", () => {
    const x = m.explain("/user");
    assert.equal(pick(x.match), "301 /user/");
    assert.equal(x.autoRedirect?.key, "/user/");
    assert.equal(x.regexesChecked, false);
    assert.equal(x.reason, '"/user" lacks the trailing slash of "/user/", so nginx answers 301 to "/user/".');
  });

  it("explains no match", () => {
    const x = matcher(["/api/", "~ ^/x"]).explain("/other");
    assert.equal(x.match, null);
    assert.deepEqual(x.steps, ["exact: there are no exact locations", "prefix: none matches", 'regex: "~ ^/x" does not match']);
    assert.equal(x.reason, 'No location matches "/other".');
  });

  it("agrees with match() on every path", () => {
    const paths = [
      "/",
      "/a",
      "/index.html",
      "/documents/",
      "/documents/x.JPEG",
      "/images/",
      "/images/a.png",
      "/user",
      "/user/",
      "/users",
      "/x.gif",
      "/documents",
    ];
    for (const path of paths) {
      const got = m.match(path);
      const x = m.explain(path);
      assert.equal(pick(x.match), pick(got), path);
      if (got !== null && "location" in got && got.captures === null) assert.equal(x.match, got, path);
      assert.equal(typeof x.reason, "string");
      assert.ok(x.steps.length > 0);
    }
  });
});

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}
