/**
 * `npm pack` yields a package that installs and runs with nothing but Node: packed from this
 * checkout (built by `npm ci` through `prepare`), installed into an empty folder from npm's local
 * cache only (`--offline`: the test never reaches the registry), then `npx portico start` serves.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cleanEnv, ROOT } from "../helpers/cli.js";
import { HANG_TEST } from "../helpers/wait.js";

/** The test's environment without npm's own variables: under `npm test` (or `npx -p node@24 npm test`) they would steer the npm and npx run here. */
function npmFreeEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(cleanEnv()).filter(([name]) => !/^npm_/i.test(name)));
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  [key: string]: unknown;
}

/** A lockfile for an app that depends on the packed tarball alone, with this checkout's runtime dependencies. */
function lockFor(dependency: string): object {
  const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const root = lock.packages[""] as LockEntry;
  const packages: Record<string, LockEntry> = {
    "": { name: "app", dependencies: { portico: dependency } },
    "node_modules/portico": { version: root.version, resolved: dependency, dependencies: root.dependencies, engines: root.engines, bin: root.bin },
  };
  for (const [where, entry] of Object.entries(lock.packages)) if (where.startsWith("node_modules/") && entry.dev !== true) packages[where] = entry;
  return { name: "app", lockfileVersion: 3, requires: true, packages };
}

test("npm pack → npm install in an empty folder → npx portico start serves", HANG_TEST, async (t) => {
  assert.ok(existsSync(path.join(ROOT, "dist/index.js")), "dist/ is missing: npm ci (or npm run build) builds it");
  const work = mkdtempSync(path.join(tmpdir(), "portico-pack-"));
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT, stdio: "pipe", env: npmFreeEnv() });
  const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"));
  assert.ok(tarball, "npm pack wrote a tarball");

  const app = path.join(work, "app");
  execFileSync("mkdir", [app]);
  // The dependencies are pinned to the versions of this checkout's lockfile (what `npm ci` put in
  // npm's cache), so that an offline install needs no registry metadata, only cached tarballs.
  const dependency = `file:../${tarball}`;
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies: { portico: dependency } }));
  writeFileSync(path.join(app, "package-lock.json"), JSON.stringify(lockFor(dependency)));
  execFileSync("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--omit=dev"], {
    cwd: app,
    stdio: "pipe",
    env: npmFreeEnv(),
  });
  assert.match(execFileSync("npx", ["--no-install", "portico", "--version"], { cwd: app, encoding: "utf8", env: npmFreeEnv() }), /\d+\.\d+\.\d+/);

  writeFileSync(
    path.join(app, "portico.yaml"),
    ["listen: 127.0.0.1:0", "virtualHosts:", "  localhost:", "    default: true", "    locations:", "      /:", "        return: \"200 'packed'\"", ""].join(
      "\n",
    ),
  );
  const env = npmFreeEnv();
  const child = spawn("npx", ["--no-install", "portico", "start", "-c", "portico.yaml"], { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /portico listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (match) resolve(match[1] as string);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
    });
    child.once("exit", (code) => reject(new Error(`portico start exited (${code}) before listening:\n${out}\n${err}`)));
  });
  const response = await fetch(`${url}/`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "packed");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // SIGTERM to portico itself (its pid is in the log line; npx is only its parent): it drains and stops.
  const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
  assert.ok(pid > 0, "the listening line names the pid");
  process.kill(pid, "SIGTERM");
  await exited;
  assert.match(out, /"msg":"stopped"/, "SIGTERM stops it cleanly");
});
