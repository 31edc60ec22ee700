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
  portico: { start: porticoSubject("portico") },
  // The same config with the access log (JSON lines to a file), metrics, both, or two workers.
  "portico-log": { start: porticoSubject("portico-log", { log: true }) },
  "portico-metrics": { start: porticoSubject("portico-metrics", { metrics: true }) },
  "portico-log-metrics": { start: porticoSubject("portico-log-metrics", { log: true, metrics: true }) },
  // Two workers on the machine's two CPUs (unpinned: wrk and the upstream share them).
  "portico-workers-2": { start: porticoSubject("portico-workers-2", { workers: 2 }) },
};

function porticoSubject(name, options = {}) {
  return async (ctx) => {
    const bin = path.join(ctx.root, "bin", "portico.js");
    if (!existsSync(bin)) throw new StartError("bin/portico.js not found");
    const port = await freePort();
    const adminPort = await freePort();
    const config = path.join(ctx.tmp, `${name}.yaml`);
    writeFileSync(config, porticoYaml(port, ctx, { ...options, adminPort, accessLogFile: path.join(ctx.tmp, `${name}-access.log`) }));
    // Logging is part of the hot path; warn keeps it on but quiet, as in production.
    const env = { PORTICO_LOG_LEVEL: "warn" };
    const launchCtx = options.workers ? { ...ctx, pin: [] } : ctx;
    return launch(name, process.execPath, [bin, "start", "-c", config], { ctx: launchCtx, port, cwd: ctx.root, env });
  };
}

function porticoYaml(port, ctx, { log, metrics, workers, adminPort, accessLogFile }) {
  const upstream = `http://127.0.0.1:${ctx.upstreamPort}`;
  const top = [
    log ? `accessLog: { format: json, path: ${JSON.stringify(accessLogFile)} }` : "",
    metrics ? `admin: { listen: "127.0.0.1:${adminPort}", metrics: true, processMetrics: false }` : "",
    workers ? `workers: ${workers}` : "",
    ctx.redis ? `redis: { url: "redis://127.0.0.1:${ctx.redis.port}" }` : "",
  ]
    .filter(Boolean)
    .join("\n");
  return `listen: "127.0.0.1:${port}"
${top}
upstreams:
  two:
    servers: ["127.0.0.1:${ctx.upstreamPort}", "127.0.0.1:${ctx.upstreamPort2}"]
consumers:
  bench:
    keyAuth: [{ key: bench-key-0123456789abcdef }]
virtualHosts:
  localhost:
    default: true
    locations:
      /:
        proxyPass: ${upstream}
      "= /hello":
        return: "200 'Hello World!'"
      /key/:
        proxyPass: ${upstream}/
        keyAuth: {}
      /jwt/:
        proxyPass: ${upstream}/
        jwtAuth: { publicKeyFile: ${JSON.stringify(ctx.jwtPublicKey)}, algorithms: [RS256] }
      /limit/:
        proxyPass: ${upstream}/
        limitCount: { count: 1000000000, window: 1h, key: ip, policy: local }
${
  ctx.redis
    ? `      /limit-redis/:
        proxyPass: ${upstream}/
        limitCount: { count: 1000000000, window: 1h, key: ip, policy: redis }
`
    : ""
}      /cache/:
        proxyPass: ${upstream}/cacheable
        proxyCache: {}
      /two/:
        proxyPass: http://two/
`;
}
