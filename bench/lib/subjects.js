// The contestants. Each start() launches one process pinned to the subject
// CPU and resolves to its port once it accepts connections.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nginxConf } from "./nginx.js";
import { freePort, outputTail, pinned, start, stop, waitForPort } from "./procs.js";

/** Raised when a subject cannot be brought up; the run goes on without it. */
export class StartError extends Error {
  constructor(message, detail = "") {
    super(message);
    this.detail = detail;
  }
}

// Runs a command and waits for its port; on failure stops it and keeps its output.
async function launch(name, cmd, args, { ctx, port, cwd, env, timeoutMs, extraLog }) {
  const [c, a] = pinned(ctx.pin, cmd, args);
  const proc = start(name, c, a, { cwd, env });
  try {
    await waitForPort(port, proc, timeoutMs);
  } catch (err) {
    await stop(proc);
    const log = extraLog && existsSync(extraLog) ? `\nerror.log:\n${readFileSync(extraLog, "utf8").trim().split("\n").slice(-15).join("\n")}` : "";
    throw new StartError(err.message, outputTail(proc) + log);
  }
  return { port, proc };
}

function nodeServer(file) {
  return async (ctx) => {
    const port = await freePort();
    const env = { PORT: String(port), UPSTREAM: `http://127.0.0.1:${ctx.upstreamPort}` };
    return launch(file, process.execPath, [path.join(ctx.benchDir, "servers", file)], { ctx, port, env });
  };
}

export const SUBJECTS = {
  // The upstream itself (already running, pinned with the load generator): the ceiling.
  direct: { start: async (ctx) => ({ port: ctx.upstreamPort, proc: null }) },
  bare: { start: nodeServer("bare-proxy.js") },
  "bare-http": { start: nodeServer("bare-http.js") },
  "fastify-http-proxy": { peer: true, start: nodeServer("fastify-http-proxy.js") },
  "fast-gateway": { peer: true, start: nodeServer("fast-gateway.js") },
  nginx: {
    async start(ctx) {
      if (!ctx.nginx) throw new StartError("skipped: nginx not installed");
      const port = await freePort();
      const dir = path.join(ctx.tmp, "nginx");
      const conf = nginxConf({ dir, port, upstreamPort: ctx.upstreamPort });
      const errorLog = path.join(dir, "error.log");
      return launch("nginx", ctx.nginx, ["-p", `${dir}/`, "-e", errorLog, "-c", conf], { ctx, port, extraLog: errorLog });
    },
  },
  portico: {
    async start(ctx) {
      const bin = path.join(ctx.root, "bin", "portico.js");
      if (!existsSync(bin)) throw new StartError("bin/portico.js not found");
      const port = await freePort();
      const config = path.join(ctx.tmp, "portico.yaml");
      writeFileSync(config, porticoYaml(port, ctx.upstreamPort));
      // Logging is part of the hot path; warn keeps it on but quiet, as in production.
      const env = { PORTICO_LOG_LEVEL: "warn" };
      return launch("portico", process.execPath, [bin, "start", "-c", config], { ctx, port, cwd: ctx.root, env });
    },
  },
};

function porticoYaml(port, upstreamPort) {
  return `listen: "127.0.0.1:${port}"
virtualHosts:
  localhost:
    default: true
    locations:
      /:
        proxyPass: http://127.0.0.1:${upstreamPort}
      "= /hello":
        return: "200 'Hello World!'"
`;
}
