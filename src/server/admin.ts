/**
 * The admin listener: a separate node:http server (loopback by default) for /healthz, /readyz,
 * /metrics, the admin API and the dashboard. Off unless the config has `admin`. Its settings
 * follow reloads; a changed `admin.listen` moves it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AdminSettings } from "../config/admin.js";
import { type AdminGateway, handleAdminRequest } from "./admin-api.js";

export { type AdminSettings, adminSettings, DEFAULT_ADMIN_LISTEN } from "../config/admin.js";

/**
 * The admin listener after a (re)load: closed when the config has none, kept (with the new
 * settings) when its address is unchanged, otherwise closed and opened at the new address.
 */
export async function syncAdminServer(current: AdminServer | null, gateway: AdminGateway, settings: AdminSettings | null): Promise<AdminServer | null> {
  if (settings !== null && current?.sameAddress(settings)) {
    current.settings = settings;
    return current;
  }
  await current?.close();
  if (settings === null) return null;
  const admin = new AdminServer(gateway, settings);
  await admin.listen();
  return admin;
}

export class AdminServer {
  settings: AdminSettings;
  readonly #gateway: AdminGateway;
  #server: Server | null = null;

  constructor(gateway: AdminGateway, settings: AdminSettings) {
    this.#gateway = gateway;
    this.settings = settings;
  }

  async listen(): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      handleAdminRequest(this.#gateway, this.settings, req, res).catch((error: unknown) => {
        this.#gateway.logger.error({ code: "PTC_ERR_ADMIN_FAILED", err: error, url: req.url }, "admin request failed");
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(`${JSON.stringify({ message: "Internal Server Error" })}\n`);
        } else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.settings.host, port: this.settings.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
  }

  /** Whether a new config needs the listener moved. */
  sameAddress(next: AdminSettings): boolean {
    // Port 0 means "any": the one already bound serves.
    const bound = (this.#server?.address() as AddressInfo | null | undefined)?.port;
    return next.host === this.settings.host && (next.port === 0 || next.port === this.settings.port || next.port === bound);
  }

  address(): { host: string; port: number; url: string } | null {
    const info = this.#server?.address() as AddressInfo | null | undefined;
    if (!info) return null;
    const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
    const clientHost = host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host;
    return { host: info.address, port: info.port, url: `http://${clientHost}:${info.port}` };
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
