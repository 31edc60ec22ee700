/**
 * Answers the gateway writes itself: errors and `return`. Every response carries `Server: portico`;
 * Node adds `Date` (sendDate) and the keep-alive headers.
 */
import { type ServerResponse, STATUS_CODES } from "node:http";
import { ERRORS, type ErrorCode } from "../errors.js";

export const SERVER_NAME = "portico";

/** nginx's error page, with our name: what nginx users' tools and eyes expect for a bare status. */
export function statusPage(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? ""}`.trim();
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>${SERVER_NAME}</center>\r\n</body>\r\n</html>\r\n`;
}

let counter = 0;
const BOOT = Date.now().toString(36);
/** A request id unique within this process's life; cheap (no randomness on the hot path). */
export function nextRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${BOOT}-${counter.toString(36)}`;
}

/**
 * A gateway error: the status and a short generic JSON body for the client; the caller logs the
 * detail with the same request id. If the response has started, the connection is cut instead,
 * so that a client never takes a truncated body for a whole one.
 */
export function sendError(res: ServerResponse, code: ErrorCode, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, message } = ERRORS[code];
  // After a refused request (400, 413) the rest of what the client sends cannot be trusted or is
  // not wanted: close the connection, as nginx does, rather than read a huge body to keep it.
  if (status === 400 || status === 413) res.shouldKeepAlive = false;
  const body = `${JSON.stringify({ message, requestId })}\n`;
  res.writeHead(status, ["Server", SERVER_NAME, "Content-Type", "application/json", "Content-Length", String(Buffer.byteLength(body))]);
  res.end(body);
}
