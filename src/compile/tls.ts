/**
 * TLS material, read at compile (and again at each reload: the files become reload triggers): the
 * virtual hosts' certificates and the listeners' protocol limits, and a location's upstream TLS
 * (proxySsl*). Keys are secrets: messages name the file, never its content.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { type ConnectionOptions, createSecureContext, type SecureContext, type SecureVersion } from "node:tls";
import type { FieldPath } from "../config/source.js";
import type { ValidatedConfig, ValidatedVirtualHost } from "../config/types.js";
import type { Report } from "./report.js";

const DEFAULT_SSL_PROTOCOLS: readonly SecureVersion[] = ["TLSv1.2", "TLSv1.3"];

/** sslProtocols and sslCiphers, as createSecureContext takes them. */
export interface TlsLimits {
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  ciphers?: string;
}

export function tlsLimits(config: ValidatedConfig): TlsLimits {
  const versions = [...(config.sslProtocols ?? DEFAULT_SSL_PROTOCOLS)].sort() as SecureVersion[];
  return {
    minVersion: versions[0] as SecureVersion,
    maxVersion: versions[versions.length - 1] as SecureVersion,
    ...(config.sslCiphers ? { ciphers: config.sslCiphers } : {}),
  };
}

export interface VirtualHostCertificate {
  cert: Buffer;
  key: Buffer;
  context: SecureContext;
}

/** NixOS onlySSL / addSSL / forceSSL, or none: plain listeners only. */
export type TlsMode = "none" | "only" | "add" | "force";

/** A virtual host's TLS mode and certificate. */
export async function loadVirtualHostTls(
  vhost: ValidatedVirtualHost,
  field: FieldPath,
  baseDir: string,
  files: Set<string>,
  limits: TlsLimits,
  report: Report,
): Promise<{ mode: TlsMode; certificate: VirtualHostCertificate | null }> {
  const flags = (["onlySSL", "addSSL", "forceSSL"] as const).filter((flag) => vhost[flag] === true);
  if (flags.length > 1) {
    report.error([...field, flags[1] as string], `${flags.join(" and ")} exclude each other (NixOS): keep one`);
    return { mode: "none", certificate: null };
  }
  const flag = flags[0];
  if (flag === undefined) {
    for (const key of ["sslCertificate", "sslCertificateKey", "http2"]) {
      if (vhost[key] !== undefined) report.warn([...field, key], "has no effect without onlySSL, addSSL or forceSSL");
    }
    return { mode: "none", certificate: null };
  }
  const mode = flag === "onlySSL" ? "only" : flag === "addSSL" ? "add" : "force";
  const certFile = vhost.sslCertificate;
  const keyFile = vhost.sslCertificateKey;
  if (certFile === undefined || keyFile === undefined) {
    report.error([...field, flag], `${flag} needs sslCertificate and sslCertificateKey (PEM files)`);
    return { mode, certificate: null };
  }
  const read = async (key: "sslCertificate" | "sslCertificateKey", file: string): Promise<Buffer | null> => {
    const absolute = path.resolve(baseDir, file);
    files.add(absolute);
    try {
      return await readFile(absolute);
    } catch (err) {
      report.error([...field, key], `cannot read ${absolute}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
      return null;
    }
  };
  const cert = await read("sslCertificate", certFile);
  const key = await read("sslCertificateKey", keyFile);
  if (!cert || !key) return { mode, certificate: null };
  try {
    return { mode, certificate: { cert, key, context: createSecureContext({ cert, key, ...limits }) } };
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line") names no key material.
    report.error([...field, "sslCertificateKey"], `the certificate and key do not load together: ${(err as Error).message}`);
    return { mode, certificate: null };
  }
}

export interface UpstreamTls {
  options: ConnectionOptions;
  /** Identifies the options in the pool key, without the secrets themselves. */
  id: string;
}

/** The upstream TLS options of a location (proxySsl*, inherited like nginx's), and an id for the pool key. */
export async function loadUpstreamTls(
  value: (key: string) => unknown,
  where: (key: string) => FieldPath,
  baseDir: string,
  files: Set<string>,
  report: Report,
): Promise<UpstreamTls> {
  const options: ConnectionOptions = { rejectUnauthorized: value("proxySslVerify") !== false };
  const id = [`verify=${options.rejectUnauthorized}`];
  const serverName = value("proxySslServerName") as string | undefined;
  if (serverName !== undefined) {
    options.servername = serverName;
    id.push(`sni=${serverName}`);
  }
  for (const [key, option] of [
    ["proxySslTrustedCertificate", "ca"],
    ["proxySslCertificate", "cert"],
    ["proxySslCertificateKey", "key"],
  ] as const) {
    const file = value(key) as string | undefined;
    if (file === undefined) continue;
    const absolute = path.resolve(baseDir, file);
    files.add(absolute);
    try {
      const content = await readFile(absolute);
      options[option] = content;
      id.push(`${option}=${createHash("sha256").update(content).digest("hex").slice(0, 16)}`);
    } catch (err) {
      report.error(where(key), `cannot read ${absolute}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
  }
  if ((value("proxySslCertificate") === undefined) !== (value("proxySslCertificateKey") === undefined)) {
    report.error(
      where(value("proxySslCertificate") === undefined ? "proxySslCertificateKey" : "proxySslCertificate"),
      "proxySslCertificate and proxySslCertificateKey go together",
    );
  }
  return { options, id: id.join(";") };
}
