/**
 * htpasswd files as Apache's and nginx users' tools write them: `user:hash` lines, `#` comments and
 * blank lines ignored. Hashes: bcrypt ($2a$/$2b$/$2y$), $apr1$ MD5-crypt, {SHA}; plain text only
 * when allowed. An unknown format is a config error naming the file, line and user, never the hash.
 */
import { looksLikeUnknownHash, type PasswordCheck, type PasswordFormat, passwordChecker, passwordFormat } from "../../consumers/secrets.js";

export interface HtpasswdEntry {
  readonly check: PasswordCheck;
  readonly format: PasswordFormat;
}

export function parseHtpasswd(text: string, file: string, allowPlainText: boolean): Map<string, HtpasswdEntry> {
  const users = new Map<string, HtpasswdEntry>();
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${file}:${index + 1}`;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`${where}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const stored = line.slice(colon + 1);
    const format = passwordFormat(stored);
    if (format === "plain" && (!allowPlainText || stored === "" || looksLikeUnknownHash(stored))) {
      throw new Error(`${where}: user ${user}: unsupported password format (use bcrypt, $apr1$ or {SHA}; plain text needs allowPlainText: true)`);
    }
    if (users.has(user)) throw new Error(`${where}: user ${user} appears twice`);
    users.set(user, { check: passwordChecker(stored, format), format });
  }
  return users;
}
