/**
 * The one error classifier of the upstream layer: every failure of an exchange (proxy, cache fill,
 * WebSocket tunnel) is one of these kinds, and the kind alone decides the client's status, whether
 * the server is blamed (passive health, the breaker) and which proxyNextUpstream case it is.
 * A client-caused failure never counts against a server and is never retried elsewhere.
 */
import type { ErrorCode } from "../errors.js";

export type FailureKind = "client" | "connect" | "timeout" | "tls" | "protocol";

export interface Failure {
  readonly kind: FailureKind;
  /** What the client is answered (status and body from ERRORS). */
  readonly code: ErrorCode;
  /** Whether passive health and the circuit breaker count it against the server. */
  readonly blamesServer: boolean;
  /** The proxyNextUpstream case it falls under; null: never passed to another server. */
  readonly retryAs: "error" | "timeout" | null;
  /** For the error log. */
  readonly message: string;
}

const failure = (kind: FailureKind, code: ErrorCode, message: string, retryAs: Failure["retryAs"]): Failure =>
  Object.freeze({ kind, code, blamesServer: kind !== "client", retryAs, message });

export const CLIENT_BODY_TOO_LARGE = failure("client", "PTC_ERR_REQUEST_BODY_TOO_LARGE", "request body too large", null);
export const CLIENT_MALFORMED = failure("client", "PTC_ERR_REQUEST_MALFORMED", "the request cannot be sent upstream as it is", null);
export const CONNECT_FAILED = failure("connect", "PTC_ERR_UPSTREAM_UNAVAILABLE", "upstream connection failed", "error");
export const TIMED_OUT = failure("timeout", "PTC_ERR_UPSTREAM_TIMEOUT", "upstream timed out", "timeout");
export const TLS_FAILED = failure("tls", "PTC_ERR_UPSTREAM_TLS", "upstream TLS handshake failed (certificate not trusted?)", "error");
export const PROTOCOL_FAILED = failure("protocol", "PTC_ERR_UPSTREAM_UNAVAILABLE", "upstream request failed", "error");
export const NO_LIVE_UPSTREAMS = failure("connect", "PTC_ERR_UPSTREAM_UNAVAILABLE", "no live upstreams: every server of the group is unavailable", null);

/** proxy_send_timeout: the upstream left the request body unread too long. */
export const SEND_TIMEOUT = "PTC_UPSTREAM_SEND_TIMEOUT";

/** The request could not be turned into a valid upstream request (a header value from client input): the client's fault. */
export class ClientRequestError extends Error {
  readonly code = "PTC_UPSTREAM_CLIENT_REQUEST";
}

const CONNECT = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL", "EADDRINUSE"]);
const TIMEOUT = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT", SEND_TIMEOUT]);
/** OpenSSL's verification failures (Node's err.code), and a name that does not match the certificate. */
const TLS = /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|CERT_|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** The kind of an exchange's error (undici's, Node's or ours). */
export function classify(error: unknown): Failure {
  const code = (error as { code?: string } | null)?.code;
  if (code === undefined) return PROTOCOL_FAILED;
  if (code === "PTC_ERR_REQUEST_BODY_TOO_LARGE") return CLIENT_BODY_TOO_LARGE;
  // undici refuses what cannot be a request (a header value with a control byte, a bad length):
  // it was built from the client's input, so the client is answered 400 and no server is blamed.
  if (code === "UND_ERR_INVALID_ARG" || code === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH" || code === "PTC_UPSTREAM_CLIENT_REQUEST") return CLIENT_MALFORMED;
  if (TIMEOUT.has(code)) return TIMED_OUT;
  if (CONNECT.has(code)) return CONNECT_FAILED;
  if (TLS.test(code)) return TLS_FAILED;
  return PROTOCOL_FAILED;
}

/** The client's error code of an exchange's error (for plugins that answer it themselves, as proxyCache). */
export function errorCode(error: unknown): ErrorCode {
  const code = (error as { code?: string } | null)?.code;
  if (code?.startsWith("PTC_ERR_")) return code as ErrorCode;
  return classify(error).code;
}
