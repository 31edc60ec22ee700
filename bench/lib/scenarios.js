// What is measured: four request shapes, who takes part in each, what a
// correct answer looks like, and the targets Portico is held to.

import { writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

export const PEERS = ["fastify-http-proxy", "fast-gateway"];
const PROXIES = ["direct", "bare", ...PEERS, "nginx", "portico"];
const POST_SIZE = 65536;

export const SCENARIOS = [
  {
    id: "a",
    slug: "get-100b",
    title: "GET / (100-byte body, proxied)",
    path: "/",
    subjects: PROXIES,
    baseline: "bare",
    expect: { status: 200, length: 100 },
    targets: { baseline: 0.9, peers: 1.5 },
  },
  {
    id: "b",
    slug: "get-1m",
    title: "GET /1m (1 MiB body, proxied)",
    path: "/1m",
    subjects: PROXIES,
    baseline: "bare",
    expect: { status: 200, length: 1024 * 1024 },
    targets: { baseline: 1.0 },
  },
  {
    id: "c",
    slug: "post-64k",
    title: "POST /echo-size (64 KiB request body, proxied)",
    path: "/echo-size",
    method: "POST",
    post: POST_SIZE,
    subjects: PROXIES,
    baseline: "bare",
    expect: { status: 200, body: String(POST_SIZE) },
    targets: { baseline: 0.9, peers: 1.5 },
  },
  {
    id: "d",
    slug: "return",
    title: "GET /hello (`return 200 'Hello World!'`, no upstream)",
    path: "/hello",
    subjects: ["bare-http", "nginx", "portico"],
    baseline: "bare-http",
    expect: { status: 200, body: "Hello World!" },
    targets: { baseline: 0.9 },
  },
  {
    id: "e",
    slug: "plugins",
    title: "GET /… through Portico's plugins (100-byte body, proxied; one Portico, one location per row)",
    path: "/",
    subjects: ["portico"],
    baseline: "portico",
    expect: { status: 200, length: 100 },
    // Each row is a location of the same Portico; `min` is the share of the plain proxy route it must keep.
    variants: [
      { label: "portico", path: "/" },
      { label: "+keyAuth", path: "/key/", headers: { apikey: "bench-key-0123456789abcdef" }, min: 0.95 },
      { label: "+jwtAuth RS256", path: "/jwt/", headers: { authorization: "Bearer $JWT" }, min: 0.85 },
      { label: "+limitCount memory", path: "/limit/", min: 0.95 },
      { label: "+limitCount redis", path: "/limit-redis/", needs: "redis" },
      { label: "+proxyCache HIT", path: "/cache/", min: 1.5 },
      { label: "2 upstream servers", path: "/two/", min: 0.9 },
    ],
  },
  {
    id: "f",
    slug: "observability",
    title: "GET / (100-byte body, proxied) with access logs and metrics on, and with 2 workers",
    path: "/",
    subjects: ["portico", "portico-log", "portico-metrics", "portico-log-metrics", "portico-workers-2"],
    baseline: "portico",
    expect: { status: 200, length: 100 },
    rowTargets: { "portico-log-metrics": 0.9 },
  },
];

/** BENCH_ONLY="a,c" or "get-1m,return"; empty means all. */
export function selectScenarios(only) {
  const wanted = (only ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (!wanted.length) return SCENARIOS;
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.id === w || s.slug === w));
  if (unknown.length) {
    const known = SCENARIOS.map((s) => `${s.id}|${s.slug}`).join(", ");
    throw new Error(`BENCH_ONLY: unknown scenario ${unknown.join(", ")} (known: ${known})`);
  }
  return SCENARIOS.filter((s) => wanted.includes(s.id) || wanted.includes(s.slug));
}

/** The wrk Lua script for the POST scenario, written into the run's temp dir. */
export function writePostScript(dir) {
  const file = path.join(dir, "post-64k.lua");
  writeFileSync(file, `wrk.method = "POST"\nwrk.body = string.rep("x", ${POST_SIZE})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return file;
}

/** One request before measuring: numbers from a subject that answers wrongly mean nothing. Returns null or what was wrong. */
export function checkResponse(port, scenario) {
  const body = scenario.post ? Buffer.alloc(scenario.post, "x") : null;
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: scenario.path,
        method: scenario.method ?? "GET",
        agent: false,
        timeout: 5000,
        headers: body ? { "content-type": "application/octet-stream", "content-length": body.length } : { ...scenario.headers },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve(mismatch(scenario.expect, res.statusCode, Buffer.concat(chunks))));
        res.on("error", (err) => resolve(err.message));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", (err) => resolve(err.message));
    req.end(body);
  });
}

function mismatch(expect, status, body) {
  const got = `got ${status} with ${body.length} bytes${body.length <= 80 ? ` ${JSON.stringify(body.toString())}` : ""}`;
  if (status !== expect.status) return `expected status ${expect.status}, ${got}`;
  if (expect.length !== undefined && body.length !== expect.length) return `expected ${expect.length} bytes, ${got}`;
  if (expect.body !== undefined && body.toString() !== expect.body) return `expected ${JSON.stringify(expect.body)}, ${got}`;
  return null;
}
