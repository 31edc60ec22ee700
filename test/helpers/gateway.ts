/**
 * Shared set-up for integration tests: a gateway from a config object on a port from the OS,
 * an echo upstream, a port nothing listens on, and a plain node:http request that reports
 * exactly what came back. Everything started here is closed in `t.after`.
 */
import { type Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { createServer } from "node:net";
import type { TestContext } from "node:test";
import { pino } from "pino";
import type { PorticoConfig } from "../../src/config/schema.js";
import { createGateway, type Gateway, type GatewayOptions } from "../../src/gateway.js";
import { type EchoUpstream, startEchoUpstream } from "../fixtures/echo-upstream.js";

export interface StartedGateway {
  gw: Gateway;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
}

/** The config shape most tests need: one default virtual host `localhost` on 127.0.0.1:0. */
export function singleHost(
  locations: NonNullable<PorticoConfig["virtualHosts"][string]["locations"]>,
  top: Omit<PorticoConfig, "virtualHosts"> = {},
): PorticoConfig {
  return { listen: "127.0.0.1:0", ...top, virtualHosts: { localhost: { default: true, locations } } };
}

/** Creates and starts a gateway (silent logger unless given one); closes it after the test. */
export async function startGateway(t: TestContext, config: PorticoConfig, options: GatewayOptions = {}): Promise<StartedGateway> {
  const gw = await createGateway(config, { logger: pino({ level: "silent" }), ...options });
  t.after(() => gw.close());
  const [address] = await gw.listen();
  if (!address) throw new Error("the gateway opened no listener");
  return { gw, url: address.url, port: address.port };
}

/** An echo upstream on a port from the OS, closed after the test. */
export async function startEcho(t: TestContext): Promise<EchoUpstream> {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  return upstream;
}

/** A loopback port that was just bound and released: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface HttpResult {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  /** Whether the request went over a socket an Agent had used before. */
  reusedSocket: boolean;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string | string[]> | string[];
  body?: string | Buffer;
  /** Defaults to no agent (a fresh connection per request). */
  agent?: Agent | false;
  /** Overrides the path of `url` byte for byte (no URL normalisation). */
  path?: string;
}

/** One request with node:http, headers exactly as given, the whole answer collected. */
export function request(url: string, options: HttpOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    // node:http adds Host itself only to an object of headers.
    const headers = Array.isArray(options.headers) && !hasHost(options.headers) ? ["Host", target.host, ...options.headers] : options.headers;
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: options.path ?? `${target.pathname}${target.search}`,
        method: options.method ?? "GET",
        headers,
        agent: options.agent ?? false,
        setHost: !hasHost(options.headers),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? "",
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString("utf8"),
            reusedSocket: req.reusedSocket,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

function hasHost(headers: HttpOptions["headers"]): boolean {
  if (!headers) return false;
  if (Array.isArray(headers)) return headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === "host");
  return Object.keys(headers).some((name) => name.toLowerCase() === "host");
}

/** The JSON an error page of the gateway carries: `{ message, requestId }`. */
export function errorBody(result: HttpResult): { message: string; requestId: string } {
  assertJson(result);
  return JSON.parse(result.text) as { message: string; requestId: string };
}

function assertJson(result: HttpResult): void {
  if (!String(result.headers["content-type"]).startsWith("application/json")) {
    throw new Error(`expected a JSON body, got ${result.headers["content-type"]}: ${result.text.slice(0, 200)}`);
  }
}
