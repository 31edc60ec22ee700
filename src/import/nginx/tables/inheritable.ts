/**
 * nginx directives that map one to one onto an option Portico takes at every level (top, virtual
 * host, location), with how to read the value.
 */

export type ValueKind = "time" | "size" | "string" | "onoff" | "int" | "words";

/** Options Portico takes at every level (top, virtual host, location), with how to read them. */
export const INHERITABLE: Record<string, { key: string; kind: ValueKind }> = {
  default_type: { key: "defaultType", kind: "string" },
  client_max_body_size: { key: "clientMaxBodySize", kind: "size" },
  proxy_connect_timeout: { key: "proxyConnectTimeout", kind: "time" },
  proxy_read_timeout: { key: "proxyReadTimeout", kind: "time" },
  proxy_send_timeout: { key: "proxySendTimeout", kind: "time" },
  proxy_next_upstream: { key: "proxyNextUpstream", kind: "words" },
  proxy_next_upstream_tries: { key: "proxyNextUpstreamTries", kind: "int" },
  proxy_next_upstream_timeout: { key: "proxyNextUpstreamTimeout", kind: "time" },
  proxy_ssl_verify: { key: "proxySslVerify", kind: "onoff" },
  proxy_ssl_name: { key: "proxySslServerName", kind: "string" },
};
/** The same for file names, made relative to the output file. */
export const INHERITABLE_FILES: Record<string, string> = {
  proxy_ssl_trusted_certificate: "proxySslTrustedCertificate",
  proxy_ssl_certificate: "proxySslCertificate",
  proxy_ssl_certificate_key: "proxySslCertificateKey",
};
