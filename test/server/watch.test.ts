/**
 * `watch: true` on a real `portico start`: an edited config file, an edited hook module (really
 * re-imported), a save by rename, a Kubernetes-style symlink swap and an edited htpasswd file each
 * reload; a broken config is refused with its errors in the log and in the metrics, the old config
 * keeps serving, and fixing the file reloads again.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { pino } from "pino";
import { FileWatcher, foldersFor } from "../../src/server/watch.js";
import { get, startPortico } from "../helpers/portico-process.js";

function configText(answer: string, extra = ""): string {
  return `listen: 127.0.0.1:0
watch: true
admin:
  listen: 127.0.0.1:0
virtualHosts:
  localhost:
    default: true
    locations:
      /hook:
        content: ./hook.mjs
      /:
        return: "200 '${answer}'"
${extra}`;
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), "portico-watch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("foldersFor: the file's folder and the folder of every symlink on the way", (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, "v1"));
  writeFileSync(path.join(dir, "v1", "portico.yaml"), "x");
  symlinkSync("v1", path.join(dir, "..data"));
  mkdirSync(path.join(dir, "etc"));
  symlinkSync(path.join(dir, "..data", "portico.yaml"), path.join(dir, "etc", "portico.yaml"));
  assert.deepEqual([...foldersFor(path.join(dir, "etc", "portico.yaml"))].sort(), [dir, path.join(dir, "etc"), path.join(dir, "v1")].sort());
  assert.deepEqual([...foldersFor(path.join(dir, "missing", "x.yaml"))], [path.join(dir, "missing")]);
});

test("FileWatcher: one call for a burst of writes, none for a touch with the same content or another file", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "a.txt");
  writeFileSync(file, "1");
  // The watcher does not keep a process alive (the listeners do): this test needs something that does.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  const calls: string[][] = [];
  let notify: () => void = () => {};
  const watcher = new FileWatcher(pino({ level: "silent" }), (changed) => {
    calls.push(changed);
    notify();
  });
  t.after(() => watcher.close());
  await watcher.set([file]);
  const called = new Promise<void>((resolve) => {
    notify = resolve;
  });
  for (let i = 2; i <= 5; i++) writeFileSync(file, String(i));
  await called;
  assert.deepEqual(calls, [[file]]);
  // Same content, and an unrelated file in the folder: the debounce runs, hashes compare equal, no call.
  writeFileSync(file, "5");
  writeFileSync(path.join(dir, "other.txt"), "x");
  const changedAgain = new Promise<void>((resolve) => {
    notify = resolve;
  });
  writeFileSync(file, "6");
  await changedAgain;
  assert.deepEqual(calls, [[file], [file]], "the touch and the other file made no call of their own");
});

test("watch: config edits, hook edits, save by rename reload; a broken file is refused and counted; fixing it reloads", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "portico.yaml");
  // .mjs: an ES module whatever the folder's package.json says (tsx, which runs these tests, caches a
  // .js file it loads as CommonJS by path, query or not; plain Node re-imports either).
  const hook = path.join(dir, "hook.mjs");
  writeFileSync(hook, 'export default () => "hook one";\n');
  writeFileSync(file, configText("one"));
  const gw = await startPortico(file);
  t.after(() => gw.child.kill("SIGKILL"));
  const admin = (await gw.waitLog("the admin line", (line) => line.msg.startsWith("admin listener on "))).admin as string;
  // The watcher is armed after the listeners open: an edit before this line could go unseen.
  await gw.waitLog("the watcher armed", (line) => /^watching \d+ files for changes$/.test(line.msg));
  const reloaded = async (from: number) => {
    const line = await gw.waitLog("a reload by watch", (l) => l.msg === "configuration reloaded" || l.msg.startsWith("reload refused"), from);
    assert.equal(line.source, "watch");
    return line;
  };
  assert.equal((await get(`${gw.base}/`)).body, "one");
  assert.equal((await get(`${gw.base}/hook`)).body, "hook one");

  // The config file, edited in place.
  let from = gw.logs.length;
  writeFileSync(file, configText("two"));
  assert.equal((await reloaded(from)).msg, "configuration reloaded");
  assert.equal((await get(`${gw.base}/`)).body, "two");

  // The hook module: re-imported, its new code answers.
  from = gw.logs.length;
  writeFileSync(hook, 'export default () => "hook two";\n');
  assert.equal((await reloaded(from)).msg, "configuration reloaded");
  assert.equal((await get(`${gw.base}/hook`)).body, "hook two");

  // An editor's save: a new file renamed over the old one.
  from = gw.logs.length;
  writeFileSync(path.join(dir, ".portico.yaml.swp"), configText("three"));
  renameSync(path.join(dir, ".portico.yaml.swp"), file);
  assert.equal((await reloaded(from)).msg, "configuration reloaded");
  assert.equal((await get(`${gw.base}/`)).body, "three");

  // A broken file: refused with its errors, the running config stays, the metric counts it.
  from = gw.logs.length;
  writeFileSync(file, configText("four").replace("return:", "retrun:"));
  const refused = await reloaded(from);
  assert.equal(refused.level, 50);
  assert.match(refused.msg, /^reload refused, the running configuration stays:\n/);
  assert.ok(
    (refused.issues as string[]).some((issue) => issue.startsWith(`${file}:`) && issue.includes("retrun")),
    JSON.stringify(refused.issues),
  );
  assert.equal((await get(`${gw.base}/`)).body, "three");
  const scrape = (await get(`${admin}/metrics`)).body;
  assert.match(scrape, /portico_config_reloads_total\{result="refused"\} 1\n/);
  assert.match(scrape, /portico_config_reloads_total\{result="ok"\} 3\n/);

  // Fixed: reloaded.
  from = gw.logs.length;
  writeFileSync(file, configText("five"));
  assert.equal((await reloaded(from)).msg, "configuration reloaded");
  assert.equal((await get(`${gw.base}/`)).body, "five");
  assert.deepEqual(await gw.stop(), { code: 0, signal: null });
});

test("watch: a Kubernetes ConfigMap-style symlink swap and an edited htpasswd file reload", async (t) => {
  const dir = tempDir(t);
  // /config/portico.yaml -> ..data/portico.yaml, ..data -> ..v1: the kubelet swaps ..data.
  const version = (name: string, answer: string) => {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, "hook.mjs"), 'export default () => "hook";\n');
    writeFileSync(
      path.join(dir, name, "portico.yaml"),
      configText(
        answer,
        `      /private:
        basicAuth:
          htpasswdFile: ${path.join(dir, "users.htpasswd")}
        return: "200 'private'"
`,
      ),
    );
  };
  writeFileSync(path.join(dir, "users.htpasswd"), `alice:${bcrypt.hashSync("first", 4)}\n`);
  version("..v1", "v1");
  symlinkSync("..v1", path.join(dir, "..data"));
  symlinkSync(path.join("..data", "portico.yaml"), path.join(dir, "portico.yaml"));
  symlinkSync(path.join("..data", "hook.mjs"), path.join(dir, "hook.mjs"));
  const gw = await startPortico(path.join(dir, "portico.yaml"));
  t.after(() => gw.child.kill("SIGKILL"));
  await gw.waitLog("the watcher armed", (line) => /^watching \d+ files for changes$/.test(line.msg));
  const basic = (password: string) => ({ headers: { authorization: `Basic ${Buffer.from(`alice:${password}`).toString("base64")}` } });
  assert.equal((await get(`${gw.base}/`)).body, "v1");
  assert.equal((await get(`${gw.base}/private`, basic("first"))).status, 200);

  let from = gw.logs.length;
  version("..v2", "v2");
  symlinkSync("..v2", path.join(dir, "..data_tmp"));
  renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
  await gw.waitLog("the reload after the swap", (line) => line.msg === "configuration reloaded", from);
  assert.equal((await get(`${gw.base}/`)).body, "v2");

  from = gw.logs.length;
  writeFileSync(path.join(dir, "users.htpasswd"), `alice:${bcrypt.hashSync("second", 4)}\n`);
  await gw.waitLog("the reload after the htpasswd edit", (line) => line.msg === "configuration reloaded", from);
  assert.equal((await get(`${gw.base}/private`, basic("first"))).status, 401);
  assert.equal((await get(`${gw.base}/private`, basic("second"))).status, 200);
  assert.deepEqual(await gw.stop(), { code: 0, signal: null });
});
