/**
 * The README stays true: its "Test your gateway like code" example is run as it is written,
 * importing "portico" the way a user does (the package's own name, from the built dist/).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startEcho } from "../helpers/gateway.js";
import { HANG_TEST } from "../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("the README's test of the reference setup passes", HANG_TEST, async (t) => {
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split("## Test your gateway like code")[1] ?? "";
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, "the README has the example");
  assert.match(example, /from "portico"/);

  const upstream = await startEcho(t);
  const dir = path.join(ROOT, "test-output");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, "readme-example.test.ts");
  await writeFile(file, example);

  const child = spawn(process.execPath, ["--import", "tsx", "--test", file], {
    cwd: ROOT,
    env: { ...process.env, UPSTREAM_URL: `${upstream.origin}/`, PORTICO_LOG_LEVEL: "silent", NODE_TEST_CONTEXT: undefined },
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, output);
  assert.match(output, /pass 1/);
  assert.ok(
    upstream.seen.some((seen) => seen.method === "POST" && seen.url === "//anything"),
    "the example's POST reached the upstream",
  );
});
