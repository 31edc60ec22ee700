/**
 * Virtual hosts: the default one (nginx default_server), each host's locations, names and TLS;
 * then the matchers by server name: every host, what plain listeners serve (forceSSL hosts
 * redirect) and what TLS listeners serve, with the certificate for each SNI name.
 */
import type { FieldPath } from "../config/source.js";
import type { ValidatedConfig, ValidatedVirtualHost } from "../config/types.js";
import { createHostMatcher, type HostInput, type HostMatcher, normalizeHost } from "../router/virtual-hosts.js";
import { listenField } from "./listen.js";
import type { LocationContext } from "./location.js";
import { compileLocations } from "./locations.js";
import type { ListenAddress, TlsSettings, VirtualHostPlan } from "./plan.js";
import type { Report } from "./report.js";
import { loadVirtualHostTls, type TlsLimits, type TlsMode, type VirtualHostCertificate } from "./tls.js";

export interface HostEntry extends HostInput<VirtualHostPlan> {
  label: string;
  tlsMode: TlsMode;
  certificate: VirtualHostCertificate | null;
  http2: boolean;
}

export interface HostMatchers {
  hosts: HostMatcher<VirtualHostPlan>;
  plainHosts: HostMatcher<VirtualHostPlan>;
  tlsHosts: HostMatcher<VirtualHostPlan> | null;
  tls: TlsSettings | null;
}

/** The virtual host with `default: true`; a second one is an error (nginx: "a duplicate default server"), reported there, naming the first. */
export function defaultHost(config: ValidatedConfig, report: Report): string | undefined {
  let found: string | undefined;
  for (const [name, vhost] of Object.entries(config.virtualHosts)) {
    if (vhost.default !== true) continue;
    if (found === undefined) found = name;
    else report.error(["virtualHosts", name, "default"], `virtual hosts "${found}" and "${name}" are both the default: keep default: true on one`);
  }
  return found;
}

export interface VirtualHostContext extends LocationContext {
  baseDir: string;
  files: Set<string>;
  tlsLimits: TlsLimits;
}

/** One virtual host as a matcher entry; null when its locations cannot be matched (reported). */
export async function compileVirtualHost(
  config: ValidatedConfig,
  name: string,
  vhost: ValidatedVirtualHost,
  isDefault: boolean,
  c: VirtualHostContext,
): Promise<HostEntry | null> {
  const locations = await compileLocations(config, name, vhost, c);
  if (locations === null) return null;
  const names = [vhost.serverName ?? name, ...(vhost.serverAliases ?? [])];
  const tls = await loadVirtualHostTls(vhost, ["virtualHosts", name], c.baseDir, c.files, c.tlsLimits, c.report);
  return {
    names,
    isDefault,
    label: name,
    data: { name, names, locations, forceSSL: false },
    tlsMode: tls.mode,
    certificate: tls.certificate,
    http2: vhost.http2 !== false,
  };
}

/** The host matchers and TLS settings; null when the config has errors (reported here or before). */
export function compileHostMatchers(
  config: ValidatedConfig,
  entries: readonly HostEntry[],
  listen: readonly ListenAddress[],
  tlsLimits: TlsLimits,
  report: Report,
): HostMatchers | null {
  let hosts: HostMatcher<VirtualHostPlan> | null = null;
  if (entries.length === 0 && !report.failed) report.error(["virtualHosts"], "define at least one virtual host with a location", "key");
  else if (entries.length > 0) {
    try {
      hosts = createHostMatcher(entries);
    } catch (err) {
      reportMatcherError(config, entries, (err as Error).message, report);
    }
  }

  // TLS listeners serve the onlySSL/addSSL/forceSSL virtual hosts; plain ones the others, forceSSL redirecting.
  const tlsEntries = entries.filter((entry) => entry.tlsMode !== "none");
  const plainEntries = entries
    .filter((entry) => entry.tlsMode !== "only")
    .map((entry) => (entry.tlsMode === "force" ? { ...entry, data: { ...entry.data, forceSSL: true } } : entry));
  const tlsListener = listen.find((address) => address.ssl);
  const plainListener = listen.find((address) => !address.ssl);
  if (tlsEntries.length > 0 && !tlsListener) {
    const first = tlsEntries[0] as HostEntry;
    report.error(
      ["virtualHosts", first.label, first.tlsMode === "only" ? "onlySSL" : first.tlsMode === "add" ? "addSSL" : "forceSSL"],
      'no TLS listener serves it: add { addr: "0.0.0.0", port: 443, ssl: true } to listen',
    );
  }
  if (tlsListener && tlsEntries.length === 0 && entries.length > 0) {
    report.error(
      listenField(config, listen, tlsListener),
      "this TLS listener has no virtual host to serve: give one onlySSL, addSSL or forceSSL and its sslCertificate",
    );
  }
  if (plainListener && plainEntries.length === 0 && entries.length > 0) {
    report.error(
      listenField(config, listen, plainListener),
      "this plain listener has no virtual host to serve: every virtual host is onlySSL (use addSSL or forceSSL, or ssl: true)",
    );
  }
  if (hosts === null || report.failed) return null;
  if (tlsEntries.length === 0) return { hosts, plainHosts: hosts, tlsHosts: null, tls: null };
  return {
    hosts,
    plainHosts: plainEntries.length > 0 ? createHostMatcher(plainEntries) : hosts,
    tlsHosts: createHostMatcher(tlsEntries),
    tls: tlsSettings(tlsEntries, tlsLimits),
  };
}

/** The certificate for each SNI name, by the same rules as the virtual hosts (exact, wildcard, regex, default). */
function tlsSettings(tlsEntries: readonly HostEntry[], limits: TlsLimits): TlsSettings {
  const certificates = createHostMatcher(tlsEntries.map((entry) => ({ ...entry, data: entry.certificate as VirtualHostCertificate })));
  const fallback = certificates.match("").data;
  return {
    contextFor: (serverName) => certificates.match(normalizeHost(serverName) || "").data.context,
    defaultOptions: { cert: fallback.cert, key: fallback.key, ...limits },
    http2: tlsEntries.some((entry) => entry.http2),
  };
}

/** The matcher numbers hosts ("host #2"): name them, and point at the server name it is about. */
function reportMatcherError(config: ValidatedConfig, entries: readonly HostEntry[], message: string, report: Report): void {
  const nameOf = (index: string) => entries[Number(index) - 1]?.data.name ?? `#${index}`;
  const about = /server name "((?:[^"\\]|\\.)*)" of host #(\d+)/.exec(message);
  let field: FieldPath = ["virtualHosts"];
  if (about) {
    const vhostName = nameOf(about[2] as string);
    const vhost = config.virtualHosts[vhostName] as ValidatedVirtualHost | undefined;
    const aliasIndex = vhost?.serverAliases?.indexOf(about[1] as string) ?? -1;
    field =
      aliasIndex >= 0
        ? ["virtualHosts", vhostName, "serverAliases", aliasIndex]
        : vhost?.serverName !== undefined
          ? ["virtualHosts", vhostName, "serverName"]
          : ["virtualHosts", vhostName];
  }
  report.error(
    field,
    message.replace(/\bhost #(\d+)/g, (_m, index: string) => `virtual host "${nameOf(index)}"`),
    field.length === 2 ? "key" : "value",
  );
}
