/**
 * CIDR matching (IPv4, IPv6, IPv4-mapped IPv6) and the client address as nginx's realip module
 * finds it (set_real_ip_from, real_ip_header, real_ip_recursive).
 */
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { cidrProblem, compileCidrs, parseAddress } from "../../src/router/cidr.js";
import { createClientAddress, socketAddress } from "../../src/router/client-address.js";

test("parseAddress: IPv4 maps into ::ffff:0:0/96; IPv6 forms, zones and junk", () => {
  assert.deepEqual([...(parseAddress("1.2.3.4") ?? [])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
  assert.deepEqual(parseAddress("::ffff:1.2.3.4"), parseAddress("1.2.3.4"));
  assert.deepEqual(parseAddress("::ffff:102:304"), parseAddress("1.2.3.4"));
  assert.deepEqual([...(parseAddress("::1") ?? [])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...(parseAddress("2001:db8::8:1") ?? [])], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1]);
  assert.deepEqual(parseAddress("fe80::1%eth0"), parseAddress("fe80::1"));
  assert.deepEqual(parseAddress("1:2:3:4:5:6:7:8"), new Uint8Array([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]));
  for (const bad of ["", "1.2.3", "1.2.3.256", "01.2.3.4", "::g", "1:2:3:4:5:6:7:8:9", "localhost", "1.2.3.4/8", " 1.2.3.4"]) {
    assert.equal(parseAddress(bad), null, bad);
  }
});

test("cidrProblem: what the schema accepts and how it words a refusal", () => {
  for (const good of ["10.0.0.0/8", "10.1.2.3/8", "0.0.0.0/0", "1.2.3.4", "1.2.3.4/32", "::/0", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104"]) {
    assert.equal(cidrProblem(good), null, good);
  }
  assert.match(cidrProblem("10.0.0.0/33") ?? "", /prefix length must be 0-32/);
  assert.match(cidrProblem("::/129") ?? "", /prefix length must be 0-128/);
  assert.match(cidrProblem("10.0.0.0/") ?? "", /prefix length/);
  assert.match(cidrProblem("10.0.0.0/-1") ?? "", /prefix length/);
  assert.match(cidrProblem("example.com") ?? "", /not an IPv4 or IPv6 address or CIDR/);
  assert.match(cidrProblem("300.0.0.0/8") ?? "", /not an IPv4/);
});

test("compileCidrs: boundaries of v4 and v6 networks, mapped forms, odd prefix lengths", () => {
  const match = compileCidrs(["10.0.0.0/8", "192.168.1.128/25", "2001:db8::/32", "fd00::/7"]);
  assert.equal(match("10.0.0.0"), true);
  assert.equal(match("10.255.255.255"), true);
  assert.equal(match("11.0.0.0"), false);
  assert.equal(match("9.255.255.255"), false);
  assert.equal(match("::ffff:10.1.2.3"), true, "IPv4-mapped IPv6, as a dual-stack socket reports it");
  assert.equal(match("192.168.1.128"), true);
  assert.equal(match("192.168.1.255"), true);
  assert.equal(match("192.168.1.127"), false);
  assert.equal(match("2001:db8:ffff::1"), true);
  assert.equal(match("2001:db9::1"), false);
  assert.equal(match("fdff::1"), true, "/7 covers fc00-fdff");
  assert.equal(match("fe00::1"), false);
  assert.equal(match("not an address"), false);
  assert.equal(match(""), false);

  const host = compileCidrs(["10.1.2.3/8"]);
  assert.equal(host("10.200.0.1"), true, "host bits are masked, as nginx's allow does");
  assert.equal(compileCidrs(["::ffff:10.0.0.0/104"])("10.9.9.9"), true, "a mapped CIDR matches plain IPv4");
  assert.equal(compileCidrs(["10.0.0.0/8"])("::a00:1"), false, "an IPv4-compatible address is not IPv4");

  const v4all = compileCidrs(["0.0.0.0/0"]);
  assert.equal(v4all("203.0.113.9"), true);
  assert.equal(v4all("2001:db8::1"), false, "0.0.0.0/0 is every IPv4 address, not every address");
  const all = compileCidrs(["::/0"]);
  assert.equal(all("2001:db8::1"), true);
  assert.equal(all("203.0.113.9"), true);
  assert.equal(all("junk"), false);
  assert.equal(compileCidrs([])("1.2.3.4"), false);
  assert.throws(() => compileCidrs(["10.0.0.0/8", "nope"]), /"nope" is not an IPv4/);
});

function fakeRequest(peer: string, headers: Record<string, string | string[]> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

test("client address: without trustedProxies it is the socket's peer, whatever the headers say", () => {
  assert.equal(createClientAddress({}), socketAddress);
  assert.equal(createClientAddress({ trustedProxies: [] }), socketAddress);
  assert.equal(socketAddress(fakeRequest("127.0.0.1", { "x-forwarded-for": "1.2.3.4" })), "127.0.0.1");
});

test("client address: a spoofed X-Forwarded-For from an untrusted peer is ignored", () => {
  const address = createClientAddress({ trustedProxies: ["10.0.0.0/8"] });
  assert.equal(address(fakeRequest("203.0.113.7", { "x-forwarded-for": "1.2.3.4" })), "203.0.113.7");
  assert.equal(address(fakeRequest("203.0.113.7", { "x-forwarded-for": "10.0.0.1" })), "203.0.113.7");
});

test("client address: recursive (default) walks from the right past trusted hops; non-recursive takes the last", () => {
  const recursive = createClientAddress({ trustedProxies: ["10.0.0.0/8", "2001:db8::/32"] });
  const xff = "1.1.1.1, 2.2.2.2, 10.0.0.5, 10.0.0.6";
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": xff })), "2.2.2.2", "the client forged 1.1.1.1; 2.2.2.2 reached our proxies");
  assert.equal(recursive(fakeRequest("::ffff:10.0.0.1", { "x-forwarded-for": "9.9.9.9" })), "9.9.9.9", "a mapped peer is trusted too");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "10.0.0.9, 10.0.0.8" })), "10.0.0.9", "all trusted: the leftmost");
  assert.equal(recursive(fakeRequest("10.0.0.1", {})), "10.0.0.1", "no header: the peer");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "" })), "10.0.0.1");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "junk, 3.3.3.3" })), "3.3.3.3", "junk left of the client is never reached");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "3.3.3.3, junk" })), "10.0.0.1", "junk stops the walk");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "2001:db8::5, 2001:db9::1" })), "2001:db9::1");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "4.4.4.4:5555" })), "4.4.4.4", "a port is dropped");
  assert.equal(recursive(fakeRequest("10.0.0.1", { "x-forwarded-for": "[2001:db9::1]:443" })), "2001:db9::1");

  const single = createClientAddress({ trustedProxies: ["10.0.0.0/8"], realIpRecursive: false });
  assert.equal(single(fakeRequest("10.0.0.1", { "x-forwarded-for": xff })), "10.0.0.6", "non-recursive: the last entry, trusted or not");
});

test("client address: realIpHeader names another header (X-Real-IP, CF-Connecting-IP)", () => {
  const address = createClientAddress({ trustedProxies: ["127.0.0.1"], realIpHeader: "X-Real-IP" });
  assert.equal(address(fakeRequest("127.0.0.1", { "x-real-ip": "5.6.7.8", "x-forwarded-for": "1.2.3.4" })), "5.6.7.8");
  assert.equal(address(fakeRequest("127.0.0.2", { "x-real-ip": "5.6.7.8" })), "127.0.0.2");
});
