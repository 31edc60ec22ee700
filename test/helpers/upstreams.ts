/**
 * Helpers of the upstream tests: which echo server answered a request, a request held open
 * until released, and a tiny server whose answers a test switches (for health checks).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import type { EchoUpstream } from "../fixtures/echo-upstream.js";

/** Index in `echoes` of the server that saw exactly `url`, or -1. */
export function servedBy(echoes: readonly EchoUpstream[], url: string): number {
  return echoes.findIndex((echo) => echo.seen.some((seen) => seen.url === url));
}

/** Starts a GET and resolves once the response's first bytes arrived; `done` ends with its body. */
export function openRequest(url: string): Promise<{ res: IncomingMessage; done: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = "";
      const done = new Promise<string>((ok, fail) => {
        res.on("end", () => ok(body));
        res.on("error", fail);
      });
      res.setEncoding("utf8");
      res.once("data", (chunk: string) => {
        body += chunk;
        res.on("data", (more: string) => {
          body += more;
        });
        resolve({ res, done });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

export interface SwitchServer {
  port: number;
  address: string;
  /** Status of every answer (health path and others). */
  status: number;
  /** Requests seen, by path. */
  hits: string[];
  server: Server;
}

/** A server answering `status` to everything: the test switches it to make a health check fail or pass. */
export async function startSwitchServer(t: TestContext, status = 200): Promise<SwitchServer> {
  const state: SwitchServer = { port: 0, address: "", status, hits: [], server: null as unknown as Server };
  const server = createServer((req, res) => {
    state.hits.push(req.url ?? "/");
    res.writeHead(state.status, { "content-type": "text/plain" });
    res.end(`status ${state.status} from ${state.port}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.server = server;
  state.port = (server.address() as AddressInfo).port;
  state.address = `127.0.0.1:${state.port}`;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return state;
}
