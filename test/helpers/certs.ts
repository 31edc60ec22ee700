/**
 * Self-signed certificates made in the test (selfsigned, EC P-256: fast), written to a temporary
 * directory removed after the test. Each names its DNS names and 127.0.0.1 in subjectAltName.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { generate } from "selfsigned";

export interface TestCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as Node's peer certificate reports it (fingerprint256). */
  fingerprint256: string;
}

let counter = 0;

/** A temporary directory for a test's files, removed after it. */
export async function tempDir(t: TestContext, prefix = "portico-tls-"): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for `names` (the first is the CN) and 127.0.0.1, as files in `dir`. */
export async function makeCertificate(dir: string, names: string[]): Promise<TestCertificate> {
  const pems = await generate([{ name: "commonName", value: names[0] as string }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 2 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      { name: "subjectAltName", altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: "127.0.0.1" }] },
    ],
  });
  const id = `${names[0]?.replace(/[^a-z0-9.-]/gi, "_")}-${++counter}`;
  const certFile = path.join(dir, `${id}.crt`);
  const keyFile = path.join(dir, `${id}.key`);
  await writeFile(certFile, pems.cert);
  await writeFile(keyFile, pems.private);
  const { X509Certificate } = await import("node:crypto");
  return { cert: pems.cert, key: pems.private, certFile, keyFile, fingerprint256: new X509Certificate(pems.cert).fingerprint256 };
}
