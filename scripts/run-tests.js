// Runs every *.test.ts under test/ with node:test (TypeScript through tsx), on whichever node runs this.
// Usage: node scripts/run-tests.js [--node-test-option …] [folder-or-file …]
//   (npm test -- test/cli, npm test -- --test-name-pattern=reload test/server, --test-reporter=…)
//
// The tests that spawn `portico` (test/helpers/cli.ts, portico-process.ts) run bin/portico.js, the
// build in dist/, as users do: so first dist/ is brought up to date. When dist/portico.schema.json
// (the last thing `npm run build` writes) is older than anything in src/, tsconfig*.json,
// package.json or scripts/write-schema.js, `npm run build` runs (a few seconds); a failed build
// stops here. Environment:
//   PORTICO_TEST_BUILD=0         never build: dist/ as it is (the CLI helpers still refuse a dist/ older than src/)
//   PORTICO_TEST_BUILD=1         build even when dist/ looks up to date
//   PORTICO_TEST_CONCURRENCY=N   test files run at once (default: cores + 2, 4 on a 2-core laptop; a file
//                                spends much of its time waiting on sockets and child processes, and on a
//                                busy machine more runnable test processes get more of the CPU)
// Files that start processes or a browser run first (the longest; the others fill in around them).
// Every test gets a hang guard of 5 minutes (--test-timeout; a test's own { timeout } wins). No test
// waits for a time to pass: each waits for an event, a log line or a state (test/helpers/wait.ts).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function collect(entry, out) {
  if (statSync(entry).isDirectory()) {
    for (const name of readdirSync(entry).sort()) collect(path.join(entry, name), out);
  } else if (entry.endsWith(".test.ts")) out.push(entry);
  return out;
}

/** The newest mtime (ms) of `entry`, a file or a folder walked recursively; 0 if it is missing. */
function newest(entry) {
  let stat;
  try {
    stat = statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = 0;
  for (const name of readdirSync(entry)) latest = Math.max(latest, newest(path.join(entry, name)));
  return latest;
}

function ensureBuild() {
  const setting = process.env.PORTICO_TEST_BUILD;
  if (setting === "0") return false;
  const built = newest(path.join(ROOT, "dist", "portico.schema.json"));
  const inputs = ["src", "tsconfig.json", "tsconfig.build.json", "package.json", "scripts/write-schema.js"].map((name) => newest(path.join(ROOT, name)));
  if (setting !== "1" && built > 0 && built >= Math.max(...inputs)) return true;
  const started = performance.now();
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) {
    process.stderr.write(`${build.stdout ?? ""}${build.stderr ?? ""}${build.error ? `${build.error.message}\n` : ""}`);
    console.error("npm run build failed: the tests that run bin/portico.js need dist/ (PORTICO_TEST_BUILD=0 runs them on dist/ as it is)");
    process.exit(1);
  }
  console.log(`# built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

const options = process.argv.slice(2).filter((arg) => arg.startsWith("--"));
const roots = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
// Files that start processes (the CLI, workers, nginx, npm, redis-server) or a browser take the
// longest: they go first, so that the run does not end waiting on one of them alone.
const SLOW = /\b(runCli|spawnCli|startPortico|startRedis|chromium\.launch|spawn|execFileSync)\(/;
const slow = (file) => SLOW.test(readFileSync(file, "utf8"));
const found = (roots.length > 0 ? roots : ["test"]).flatMap((root) => collect(root, []));
const files = [...found.filter(slow), ...found.filter((file) => !slow(file))];
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const env = { ...process.env };
// Built (or found up to date) here: the CLI helpers need not look again in every test process.
if (ensureBuild()) env.PORTICO_TEST_DIST = "checked";
const concurrency = Number(process.env.PORTICO_TEST_CONCURRENCY ?? availableParallelism() + 2);
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=300000", ...options, ...files], {
  stdio: "inherit",
  env,
});
process.exit(result.status ?? 1);
