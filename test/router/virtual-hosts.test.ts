import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createHostMatcher, type HostInput, normalizeHost } from "../../src/router/virtual-hosts.js";

describe("normalizeHost (ngx_http_validate_host)", () => {
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, ""],
    ["", null], // nginx answers 400 to an empty Host
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["example.com:8080", "example.com"],
    ["example.com:", "example.com"],
    ["example.com:65535", "example.com"],
    ["example.com:65536", null],
    ["example.com:99999", null],
    ["example.com:8a", null],
    ["example.com.", "example.com"],
    ["EXAMPLE.com.:80", "example.com"],
    ["example.com..", null],
    ["a..b", null],
    [".example.com", ".example.com"], // nginx lets a leading dot through
    [".", null],
    [":80", null],
    ["localhost", "localhost"],
    ["1.2.3.4:80", "1.2.3.4"],
    ["a_b~c-d", "a_b~c-d"],
    ["a!$&'()*+,;=b", "a!$&'()*+,;=b"],
    ["ex%41mple", "ex%41mple"], // allowed, and not decoded
    ["exa mple.com", null],
    ["exa/mple.com", null],
    ["user@example.com", null],
    ["exampl\u00e9.com", null],
    ["[::1]", "[::1]"],
    ["[::1]:8080", "[::1]"],
    ["[::1]:", "[::1]"],
    ["[2001:DB8::1]", "[2001:db8::1]"],
    ["[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]"],
    ["[::1", null],
    ["[::1]x", null],
    ["[::1]:x", null],
    ["[fe80::1%25eth0]", null],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizeHost(input), expected);
    });
  }
});

type Host = HostInput<string>;
const host = (data: string, names: string[], isDefault = false): Host => ({ names, isDefault, data });

describe("createHostMatcher", () => {
  it("matches exact names, case-insensitively on the config side", () => {
    const m = createHostMatcher([host("a", ["a.example.com"]), host("b", ["B.Example.COM", "b2.example.com"])]);
    assert.equal(m.match("a.example.com").data, "a");
    assert.equal(m.match("b.example.com").data, "b");
    assert.equal(m.match("b2.example.com").data, "b");
    assert.equal(m.match("b.example.com").reason, 'exact server name "b.example.com"');
    assert.equal(m.match("b.example.com").index, 1);
  });

  it("falls back to the default host, else the first", () => {
    const withDefault = createHostMatcher([host("a", ["a.com"]), host("b", ["b.com"], true)]);
    assert.equal(withDefault.match("other.com").data, "b");
    assert.equal(withDefault.match("other.com").reason, "no server name matched, so the default host serves it");
    const noDefault = createHostMatcher([host("a", ["a.com"]), host("b", ["b.com"])]);
    assert.equal(noDefault.match("other.com").data, "a");
    assert.equal(noDefault.match("other.com").reason, "no server name matched and no host is marked default, so the first host serves it");
  });

  it('matches "*.example.com" on subdomains only', () => {
    const m = createHostMatcher([host("fallback", ["fallback"]), host("wild", ["*.example.com"])]);
    assert.equal(m.match("www.example.com").data, "wild");
    assert.equal(m.match("a.b.example.com").data, "wild");
    assert.equal(m.match("example.com").data, "fallback");
    assert.equal(m.match("badexample.com").data, "fallback");
    assert.equal(m.match("www.example.com").reason, 'leading wildcard server name "*.example.com"');
  });

  it('matches ".example.com" on the domain and its subdomains', () => {
    const m = createHostMatcher([host("fallback", ["fallback"]), host("dot", [".example.com"])]);
    assert.equal(m.match("example.com").data, "dot");
    assert.equal(m.match("www.example.com").data, "dot");
    assert.equal(m.match("badexample.com").data, "fallback");
  });

  it("prefers the longest leading wildcard", () => {
    const m = createHostMatcher([host("short", ["*.example.com"]), host("long", ["*.api.example.com"]), host("com", [".com"])]);
    assert.equal(m.match("v1.api.example.com").data, "long");
    assert.equal(m.match("api.example.com").data, "short");
    assert.equal(m.match("www.example.com").data, "short");
    assert.equal(m.match("other.com").data, "com");
    assert.equal(m.match("com").data, "com");
  });

  it('matches "www.example.*" with at least one more label, longest first', () => {
    const m = createHostMatcher([host("fallback", ["fallback"]), host("www", ["www.*"]), host("long", ["www.example.*"])]);
    assert.equal(m.match("www.example.com").data, "long");
    assert.equal(m.match("www.example.co.uk").data, "long");
    assert.equal(m.match("www.example").data, "www");
    assert.equal(m.match("www.other.org").data, "www");
    assert.equal(m.match("www").data, "fallback");
    assert.equal(m.match("wwwx.example.com").data, "fallback");
  });

  it("orders exact, leading wildcard, trailing wildcard, then regexes in order", () => {
    const m = createHostMatcher([
      host("regex1", ["~^www\\.(?<domain>.+)$"]),
      host("regex2", ["~^(www\\.)?(.+)$"]),
      host("trailing", ["www.example.*"]),
      host("leading", ["*.example.com"]),
      host("exact", ["www.example.com"]),
    ]);
    assert.equal(m.match("www.example.com").data, "exact");
    assert.equal(m.match("api.example.com").data, "leading");
    assert.equal(m.match("www.example.org").data, "trailing");
    assert.equal(m.match("www.other.org").data, "regex1");
    assert.equal(m.match("other.org").data, "regex2");
  });

  it("hands out regex captures", () => {
    const m = createHostMatcher([host("r", ["~^(?P<sub>[a-z]+)\\.(example)\\.com$"]), host("other", ["x"])]);
    const hit = m.match("api.example.com");
    assert.equal(hit.data, "r");
    assert.equal(hit.captures?.groups?.sub, "api");
    assert.equal(hit.captures?.[2], "example");
    assert.equal(hit.reason, 'regex server name "~^(?P<sub>[a-z]+)\\.(example)\\.com$"');
    assert.equal(m.match("x").captures, null);
  });

  it("makes a regex with an upper-case letter caseless, as nginx", () => {
    const m = createHostMatcher([host("fallback", ["fallback"]), host("upper", ["~^API\\."]), host("lower", ["~^www\\."])]);
    assert.equal(m.match("api.example.com").data, "upper");
    assert.equal(m.match("www.example.com").data, "lower");
  });

  it('sends requests without Host to the "" name, before the default', () => {
    const m = createHostMatcher([host("site", ["example.com"], true), host("nohost", [""]), host("regex", ["~.*"])]);
    assert.equal(m.match("").data, "nohost");
    assert.equal(m.match("").reason, 'server name "" (request without Host)');
    assert.equal(m.match("other").data, "regex");
  });

  it('gives a host without names nginx\'s default name ""', () => {
    const m = createHostMatcher([host("site", ["example.com"], true), host("nameless", [])]);
    assert.equal(m.match("").data, "nameless");
    assert.equal(m.match("other.com").data, "site");
  });

  it("skips wildcards and regexes for a request without Host", () => {
    const m = createHostMatcher([host("first", ["a.com"]), host("regex", ["~^$"]), host("dflt", ["b.com"], true)]);
    assert.equal(m.match("").data, "dflt");
  });

  it('treats "_" as an ordinary name, not a catch-all', () => {
    const m = createHostMatcher([host("site", ["example.com"]), host("underscore", ["_"])]);
    assert.equal(m.match("other.com").data, "site");
    assert.equal(m.match("_").data, "underscore");
  });

  it("matches IPv6 literals as exact names", () => {
    const m = createHostMatcher([host("v4", ["127.0.0.1"]), host("v6", ["[::1]"])]);
    assert.equal(m.match("[::1]").data, "v6");
  });

  it("returns cached objects for non-regex matches", () => {
    const m = createHostMatcher([host("a", ["a.com", "*.a.com"]), host("b", ["b.*"], true)]);
    assert.equal(m.match("a.com"), m.match("a.com"));
    assert.equal(m.match("x.a.com"), m.match("y.a.com"));
    assert.equal(m.match("b.x"), m.match("b.y"));
    assert.equal(m.match("zzz"), m.match("yyy"));
    assert.ok(Object.isFrozen(m.match("a.com")));
  });

  describe("errors", () => {
    const throwsWith = (hosts: Host[], message: RegExp) => {
      assert.throws(
        () => createHostMatcher(hosts),
        (err: Error) => {
          assert.match(err.message, message);
          assert.ok(!err.message.includes("\n"));
          return true;
        },
      );
    };

    it("needs at least one host", () => throwsWith([], /at least one virtual host is needed/));

    it("refuses two defaults", () =>
      throwsWith([host("a", ["a"], true), host("b", ["b"], true)], /host #1 and host #2 are both marked default; keep isDefault on one/));

    it("names hosts by their label when given", () =>
      throwsWith(
        [
          { ...host("a", ["a"], true), label: "api" },
          { ...host("b", ["b"], true), label: "web" },
        ],
        /virtual host "api" and virtual host "web" are both marked default/,
      ));

    const conflicts: Array<[string, string]> = [
      ["example.com", "example.com"],
      ["example.com", "EXAMPLE.com"],
      [".example.com", "example.com"],
      ["example.com", ".example.com"],
      [".example.com", "*.example.com"],
      ["*.example.com", "*.example.com"],
      ["www.example.*", "www.example.*"],
      ["", ""],
    ];
    for (const [a, b] of conflicts) {
      it(`refuses "${a}" and "${b}" on two hosts`, () =>
        throwsWith(
          [host("a", [a]), host("b", [b])],
          /^server name ".*" of host #2 conflicts with ".*" of host #1; nginx would ignore the second one; remove one of them$/,
        ));
    }

    it("refuses a wildcard that overlaps another one in the same host", () =>
      throwsWith(
        [host("a", ["*.example.com", ".example.com"])],
        /server name ".example.com" of host #1 conflicts with "\*.example.com" of host #1; remove one of them/,
      ));

    it('refuses an explicit "" after a host without names', () =>
      throwsWith([host("a", []), host("b", [""])], /server name "" of host #2 conflicts with host #1, which has no names and so the name ""/));

    it("allows what nginx keeps without conflict, or harmlessly", () => {
      const m = createHostMatcher([
        host("exact", ["example.com", "example.com"]),
        host("wild", ["*.example.com"]),
        host("r1", ["~^a"]),
        host("r2", ["~^a"]),
        host("n1", [""]),
        host("n2", []),
        host("n3", []),
      ]);
      assert.equal(m.match("example.com").data, "exact");
      assert.equal(m.match("www.example.com").data, "wild");
      assert.equal(m.match("abc").data, "r1");
      assert.equal(m.match("").data, "n1");
    });

    const invalid: Array<[string, RegExp]> = [
      ["*", /server name "\*" of host #1 is invalid: a "\*" may only stand for whole labels/],
      ["*example.com", /is invalid/],
      ["www.*.com", /is invalid/],
      ["*.example.*", /is invalid/],
      ["www.example*", /is invalid/],
      ["a..b", /is invalid/],
      [".", /is invalid/],
      ["~", /server name "~" of host #1 has an empty regex/],
      ["~^(a", /server name "~\^\(a" of host #1: invalid regular expression: Unterminated group/],
      ["$hostname", /"\$hostname" of host #1 is not supported; write the host name/],
      ["example.com.", /can never match: Host headers are compared lower-cased, without port or trailing dot; write "example.com"/],
      ["Example.com:8080", /can never match: .*; write "example.com"/],
      ["*.example.com.", /can never match: .*; write "\*.example.com"/],
      ["exa mple.com", /can never match: it has characters a Host header cannot have/],
      ["example.com/x", /can never match/],
    ];
    for (const [name, message] of invalid) {
      it(`refuses the name ${JSON.stringify(name)}`, () => throwsWith([host("a", [name])], message));
    }
  });

  describe("explain", () => {
    const m = createHostMatcher([host("site", ["example.com", "*.example.com"], true), host("nameless", []), host("api", ["~^api\\."])]);

    it("says which host and why", () => {
      assert.equal(m.explain("example.com"), 'Host "example.com" goes to host #1 ("example.com", "*.example.com"): exact server name "example.com".');
      assert.equal(
        m.explain("www.example.com"),
        'Host "www.example.com" goes to host #1 ("example.com", "*.example.com"): leading wildcard server name "*.example.com".',
      );
      assert.equal(m.explain("api.other.org"), 'Host "api.other.org" goes to host #3 ("~^api\\."): regex server name "~^api\\.".');
      assert.equal(
        m.explain("other.org"),
        'Host "other.org" goes to host #1 ("example.com", "*.example.com"): no server name matched, so the default host serves it.',
      );
      assert.equal(m.explain(""), 'A request without Host goes to host #2 (no names, so nginx\'s ""): server name "" (request without Host).');
    });
  });
});
