/**
 * `portico start -c FILE` as a real process on 127.0.0.1 with a port from the OS: serving,
 * SIGHUP reloads (a good file takes over on the same listener, a broken one is refused and the
 * old config keeps serving), SIGTERM drains requests in flight; and the command line's usage.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type EchoUpstream, startEchoUpstream } from "../fixtures/echo-upstream.js";
import { collectLogLines, FIXTURES, type LogLine, lines, ROOT, runCli, spawnCli, waitFor } from "../helpers/cli.js";

/** A running `portico start`, its JSON log lines as they come, and how it ended. */
interface Running {
  child: ChildProcess;
  logs: LogLine[];
  stderr: string;
  base: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

async function start(file: string, env: Record<string, string> = {}): Promise<Running> {
  const child = spawnCli(["start", "-c", file], { env });
  running.add(child);
  const state: Running = { child, logs: [], stderr: "", base: "", exit: undefined as never };
  state.exit = new Promise((resolve) =>
    child.on("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  collectLogLines(child.stdout, state.logs);
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    state.stderr += chunk;
  });
  let exited = false;
  void state.exit.then(() => {
    exited = true;
  });
  const listening = await waitFor("the listening log line", () => {
    if (exited) throw new Error(`portico start exited before listening:\n${state.stderr}`);
    return state.logs.find((log) => log.msg.startsWith("portico listening on "));
  });
  const match = /^portico listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(listening.msg);
  assert.ok(match, listening.msg);
  state.base = match[1] as string;
  return state;
}

after(() => {
  for (const child of running) child.kill("SIGKILL");
});

function get(url: string, agent?: Agent): Promise<{ status: number; body: string; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, reusedSocket: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end();
  });
}

function configText(text: string, upstream = "http://127.0.0.1:9/"): string {
  return `listen: 127.0.0.1:0
virtualHosts:
  localhost:
    default: true
    locations:
      /:
        return: "200 '${text}'"
      /slow/:
        proxyPass: ${upstream}
`;
}

describe("portico start", () => {
  let dir: string;
  let upstream: EchoUpstream;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "portico-start-"));
    upstream = await startEchoUpstream();
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await upstream.close();
  });

  test("serves, reloads on SIGHUP on the same listener, refuses a broken file and keeps serving", async () => {
    const file = path.join(dir, "reload.yaml");
    writeFileSync(file, configText("one"));
    const gw = await start(file);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(`${gw.base}/`, agent);
      assert.deepEqual([first.status, first.body], [200, "one"]);

      writeFileSync(file, configText("two"));
      const reloads = gw.logs.length;
      gw.child.kill("SIGHUP");
      await waitFor("the reload", () => gw.logs.slice(reloads).find((log) => log.msg === "configuration reloaded"));
      const second = await get(`${gw.base}/`, agent);
      assert.deepEqual([second.status, second.body], [200, "two"]);
      assert.equal(second.reusedSocket, true, "the kept-alive connection from before the reload still serves");

      writeFileSync(file, `${configText("three").replace("return:", "retrun:")}  oops: [\n`);
      const refused = gw.logs.length;
      gw.child.kill("SIGHUP");
      const log = await waitFor("the refusal", () => gw.logs.slice(refused).find((line) => line.level === 50));
      assert.match(log.msg, /^reload refused, the running configuration stays:\n/);
      const issues = log.issues as string[];
      assert.ok(Array.isArray(issues) && issues.length > 0, JSON.stringify(log));
      for (const issue of issues) assert.ok(issue.startsWith(`${file}:`), issue);
      assert.ok(log.msg.includes(issues[0] as string));

      writeFileSync(file, configText("three").replace("return:", "retrun:"));
      const refusedAgain = gw.logs.length;
      gw.child.kill("SIGHUP");
      const again = await waitFor("the second refusal", () => gw.logs.slice(refusedAgain).find((line) => line.level === 50));
      assert.deepEqual(again.issues, [`${file}:7:9  virtualHosts.localhost.locations./.retrun  unknown field "retrun": did you mean "return"?`]);

      const third = await get(`${gw.base}/`, agent);
      assert.deepEqual([third.status, third.body], [200, "two"], "the old config keeps serving");
      assert.equal(third.reusedSocket, true);
    } finally {
      agent.destroy();
      gw.child.kill("SIGTERM");
      assert.deepEqual(await gw.exit, { code: 0, signal: null });
    }
  });

  test("SIGTERM: the request in flight completes, new connections are refused, exit 0", async () => {
    const file = path.join(dir, "drain.yaml");
    // No drain deadline to race: the test releases the request itself.
    writeFileSync(file, `shutdownTimeout: 10m\n${configText("drain", `${upstream.origin}/`)}`);
    const gw = await start(file);
    const seen = upstream.seen.length;
    // Held by the upstream until released: in flight for sure when SIGTERM lands, however slow the machine.
    const slow = get(`${gw.base}/slow/hold/drain`);
    await waitFor("the slow request upstream", () => (upstream.seen.slice(seen).some((r) => r.path === "/hold/drain") ? true : undefined));

    gw.child.kill("SIGTERM");
    await waitFor("the stopping log line", () => gw.logs.find((log) => log.msg === "stopping: finishing requests in flight"));
    // The line is written just before the listener closes: a connection made in between sat in the
    // accept queue and is reset when it closes. Either way it is never served; ask until refused.
    await waitFor("new connections to be refused", async () => {
      const error = await get(`${gw.base}/`).then(
        (answer) => assert.fail(`a new connection was served while stopping: ${answer.status} ${answer.body}`),
        (error: NodeJS.ErrnoException) => error,
      );
      if (error.code === "ECONNREFUSED") return true;
      assert.equal(error.code, "ECONNRESET", error.message);
      return undefined;
    });

    assert.ok(upstream.release("drain"), "the request was still in flight");
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "first\nlast\n");
    assert.deepEqual(await gw.exit, { code: 0, signal: null });
    assert.ok(gw.logs.some((log) => log.msg === "stopped"));
  });

  test("an invalid config at start: exit 1, the formatted errors on stderr, no stack", async () => {
    const file = path.join(FIXTURES, "bad", "misspelt.yaml");
    const result = await runCli(["start", "-c", file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    const got = lines(result.stderr);
    assert.equal(got.length, 6, result.stderr);
    assert.equal(got[0], `${file}:1:1  lisen  unknown field "lisen": did you mean "listen"?`);
    assert.doesNotMatch(result.stderr, /^\s+at /m);
  });

  test("a listener that cannot open: exit 1", async () => {
    const file = path.join(dir, "busy.yaml");
    const holder = await start(path.join(FIXTURES, "basic.yaml"));
    try {
      writeFileSync(file, configText("busy").replace("127.0.0.1:0", holder.base.replace("http://", "")));
      const result = await runCli(["start", "-c", file]);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /cannot listen: listen EADDRINUSE/);
    } finally {
      holder.child.kill("SIGTERM");
      assert.deepEqual(await holder.exit, { code: 0, signal: null });
    }
  });
});

describe("the command line", { concurrency: true }, () => {
  test("no arguments: usage on stderr, exit 2", async () => {
    const result = await runCli([]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^Usage:\n {2}portico start {2}-c FILE/);
    assert.match(result.stderr, /portico check {2}-c FILE/);
    assert.match(result.stderr, /portico routes -c FILE \[METHOD\] URL/);
  });

  test("--help: usage on stdout, exit 0", async () => {
    const result = await runCli(["--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage:/);
  });

  test("an unknown command: exit 2 with the usage", async () => {
    const result = await runCli(["serve", "-c", "x.yaml"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^portico: unknown command "serve"\nUsage:/);
  });

  test("an unknown option: exit 2", async () => {
    const result = await runCli(["check", "--config-file", "x.yaml"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^portico: Unknown option '--config-file'/);
  });

  test("a command without -c: exit 2", async () => {
    for (const command of ["start", "check", "routes"]) {
      const result = await runCli([command]);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `portico ${command}: give the config file with -c FILE\n`);
    }
  });

  test("--version prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-v"]) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `portico ${version}\n`);
    }
  });
});
