/**
 * A raw TCP client for what node:http refuses to send: malformed request lines, headers and
 * chunks. It writes the bytes given and collects everything the server sends until it closes
 * the connection (or, with `untilResponse`, until one whole response has arrived).
 */
import { connect, type Socket } from "node:net";

export interface RawResponse {
  /** Everything received, latin1. */
  raw: string;
  /** Status of the first response, 0 if none came. */
  status: number;
  /** Header lines of the first response, names lower-cased (last one wins). */
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection. */
  closed: boolean;
}

export interface RawOptions {
  /** Resolve once the first response is complete instead of waiting for the close. */
  untilResponse?: boolean;
  /** Called with everything received so far on each arrival (to write more once the server answered). */
  onData?: (received: string, socket: Socket) => void;
}

/** Sends `data` to 127.0.0.1:port and resolves with what came back. */
export function rawExchange(port: number, data: string | Buffer | Array<string | Buffer>, options: RawOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      const parsed = parseResponse(Buffer.concat(chunks).toString("latin1"));
      if (!closed) socket.destroy();
      resolve({ ...parsed, closed });
    };
    socket.on("connect", () => {
      for (const part of Array.isArray(data) ? data : [data]) socket.write(part);
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks).toString("latin1");
      options.onData?.(received, socket);
      if (options.untilResponse && isComplete(received)) finish(false);
    });
    // A reset after the answer is still an answer: resolve with what came.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (chunks.length > 0 || error.code === "ECONNRESET" || error.code === "EPIPE") finish(true);
      else reject(error);
    });
    socket.on("close", () => finish(true));
  });
}

export function parseResponse(raw: string): Omit<RawResponse, "closed"> {
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  const lines = head.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { raw, status, headers, body: end < 0 ? "" : raw.slice(end + 4) };
}

/** Whether `raw` holds one whole response framed by Content-Length (or a bodiless status). */
function isComplete(raw: string): boolean {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const { status, headers } = parseResponse(raw);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const length = headers["content-length"];
  if (length !== undefined) return raw.length - end - 4 >= Number(length);
  if (headers["transfer-encoding"] === "chunked") return raw.endsWith("0\r\n\r\n");
  return false;
}
