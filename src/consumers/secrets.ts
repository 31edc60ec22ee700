/**
 * Secret handling shared by the auth plugins: constant-time comparison (on equal-length SHA-256
 * digests, so that neither the content nor the length of a secret shows in the timing) and
 * password hashes in the formats htpasswd files use: bcrypt ($2a$/$2b$/$2y$, via bcryptjs),
 * Apache's $apr1$ MD5-crypt (written here), {SHA} (base64 SHA-1), and plain text.
 */
import { createHash, hash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

export function sha256(value: string | Buffer): Buffer {
  return createHash("sha256").update(value).digest();
}

/** SHA-256 as base64 with the one-shot crypto.hash (several times faster than createHash for short inputs): for lookups on the hot path. */
export function sha256Base64(value: string): string {
  return hash("sha256", value, "base64");
}

/** Compares two secrets in constant time (their SHA-256 digests, which have one length). */
export function secretEquals(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function to64(value: number, count: number): string {
  let out = "";
  let v = value;
  for (let i = 0; i < count; i++) {
    out += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return out;
}

/** Apache's `$apr1$` (FreeBSD MD5-crypt with another magic): `$apr1$SALT$HASH`. */
export function apr1(password: string, salt: string): string {
  const magic = "$apr1$";
  const pw = Buffer.from(password, "utf8");
  const s = Buffer.from(salt.slice(0, 8), "utf8");
  const md5 = () => createHash("md5");
  const ctx = md5().update(pw).update(magic).update(s);
  let final = md5().update(pw).update(s).update(pw).digest();
  for (let left = pw.length; left > 0; left -= 16) ctx.update(final.subarray(0, Math.min(left, 16)));
  for (let i = pw.length; i > 0; i >>>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const round = md5();
    round.update(i & 1 ? pw : final);
    if (i % 3) round.update(s);
    if (i % 7) round.update(pw);
    round.update(i & 1 ? final : pw);
    final = round.digest();
  }
  const f = final;
  const hash =
    to64(((f[0] as number) << 16) | ((f[6] as number) << 8) | (f[12] as number), 4) +
    to64(((f[1] as number) << 16) | ((f[7] as number) << 8) | (f[13] as number), 4) +
    to64(((f[2] as number) << 16) | ((f[8] as number) << 8) | (f[14] as number), 4) +
    to64(((f[3] as number) << 16) | ((f[9] as number) << 8) | (f[15] as number), 4) +
    to64(((f[4] as number) << 16) | ((f[10] as number) << 8) | (f[5] as number), 4) +
    to64(f[11] as number, 2);
  return `${magic}${s.toString("utf8")}$${hash}`;
}

/** `{SHA}` + base64 of the SHA-1 of the password (htpasswd -s). */
export function shaPassword(password: string): string {
  return `{SHA}${createHash("sha1").update(password, "utf8").digest("base64")}`;
}

export type PasswordFormat = "bcrypt" | "apr1" | "sha" | "plain";

/** The format of a stored password: a known hash prefix, else plain text. */
export function passwordFormat(stored: string): PasswordFormat {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(stored)) return "bcrypt";
  if (/^\$apr1\$[^$]{1,8}\$[./A-Za-z0-9]{22}$/.test(stored)) return "apr1";
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(stored)) return "sha";
  return "plain";
}

/** Whether a stored value looks like a hash of a format this module does not know ($1$, $5$, $6$, {SSHA}, …). */
export function looksLikeUnknownHash(stored: string): boolean {
  return /^\$[0-9a-z]+\$/.test(stored) || /^\{[A-Z0-9-]+\}/.test(stored);
}

/** A checker for one stored password; bcrypt is async (and slow by design). */
export type PasswordCheck = (password: string) => boolean | Promise<boolean>;

export function passwordChecker(stored: string, format: PasswordFormat = passwordFormat(stored)): PasswordCheck {
  switch (format) {
    case "bcrypt":
      return (password) => bcrypt.compare(password, stored);
    case "apr1": {
      const salt = stored.slice(6, stored.indexOf("$", 6));
      return (password) => secretEquals(apr1(password, salt), stored);
    }
    case "sha":
      return (password) => secretEquals(shaPassword(password), stored);
    default:
      return (password) => secretEquals(password, stored);
  }
}
