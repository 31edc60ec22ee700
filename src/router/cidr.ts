/**
 * CIDR lists (IPv4, IPv6, IPv4-mapped IPv6) compiled once into a matcher. An address is parsed
 * into 16 bytes (IPv4 as ::ffff:a.b.c.d, so `1.2.3.4` and `::ffff:1.2.3.4` are one address) and
 * compared byte by byte against each network's masked prefix: no allocation beyond the parse.
 */
import { isIPv4, isIPv6 } from "node:net";

/** A compiled network: its prefix bytes (already masked) and length in bits over 16 bytes. */
interface Network {
  bytes: Uint8Array;
  bits: number;
}

export type AddressMatcher = (address: string) => boolean;

const V4_MAPPED_BITS = 96;

/** 16 bytes of an IPv4 or IPv6 address (IPv4 mapped into ::ffff:0:0/96), or null. */
export function parseAddress(text: string, out: Uint8Array = new Uint8Array(16)): Uint8Array | null {
  // Zone ids (fe80::1%eth0) are not part of the address.
  const zone = text.indexOf("%");
  const address = zone >= 0 ? text.slice(0, zone) : text;
  if (isIPv4(address)) {
    out.fill(0, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    writeV4(address, out, 12);
    return out;
  }
  if (!isIPv6(address)) return null;
  let head = address;
  // A trailing dotted quad (::ffff:1.2.3.4, ::1.2.3.4) is two groups.
  let tail: string | null = null;
  const lastColon = address.lastIndexOf(":");
  if (address.indexOf(".", lastColon) >= 0) {
    tail = address.slice(lastColon + 1);
    head = `${address.slice(0, lastColon + 1)}0:0`;
  }
  const [left = "", right] = head.split("::");
  const leftGroups = left === "" ? [] : left.split(":");
  const rightGroups = right === undefined || right === "" ? [] : right.split(":");
  const groups = right === undefined ? leftGroups : [...leftGroups, ...new Array<string>(8 - leftGroups.length - rightGroups.length).fill("0"), ...rightGroups];
  if (groups.length !== 8) return null;
  for (let i = 0; i < 8; i++) {
    const value = Number.parseInt(groups[i] as string, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  }
  if (tail !== null) writeV4(tail, out, 12);
  return out;
}

function writeV4(address: string, out: Uint8Array, at: number): void {
  const parts = address.split(".");
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** Parses "10.0.0.0/8", "2001:db8::/32", "1.2.3.4" (a /32) or "::1" (a /128); throws on anything else. */
export function parseCidr(text: string): Network {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const address = slash >= 0 ? trimmed.slice(0, slash) : trimmed;
  const bytes = parseAddress(address);
  if (bytes === null) throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR`);
  const v4 = isIPv4(address);
  const max = v4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const suffix = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(suffix) || Number(suffix) > max) throw new Error(`"${text}": the prefix length must be 0-${max}`);
    bits = Number(suffix);
  }
  if (v4) bits += V4_MAPPED_BITS;
  // Mask the host bits, so that 10.1.2.3/8 means 10.0.0.0/8 (as nginx's allow does).
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return { bytes, bits };
}

function contains(network: Network, address: Uint8Array): boolean {
  const { bytes, bits } = network;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== address[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((address[whole] as number) & mask) === bytes[whole];
}

// One scratch buffer: matching is synchronous.
const scratch = new Uint8Array(16);

/** Compiles a list of CIDRs (throws naming the first bad one); the matcher is false for a non-address. */
export function compileCidrs(list: readonly string[]): AddressMatcher {
  const networks = list.map(parseCidr);
  if (networks.length === 0) return () => false;
  // ::/0: every address.
  if (networks.some((network) => network.bits === 0)) return (address) => parseAddress(address, scratch) !== null;
  return function matchAddress(address: string): boolean {
    const parsed = parseAddress(address, scratch);
    if (parsed === null) return false;
    for (const network of networks) if (contains(network, parsed)) return true;
    return false;
  };
}

/** Config-time check for schemas: the message for a bad entry, or null. */
export function cidrProblem(text: string): string | null {
  try {
    parseCidr(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
