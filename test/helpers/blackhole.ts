/**
 * A TCP port that never completes a connection: the way to get a connect timeout on loopback.
 * A child process listens with a backlog of 1 and blocks its event loop, so it accepts nothing;
 * two connections fill its accept queue, after which Linux drops every SYN and a connect hangs
 * until the client gives up. (Linux: the accept queue holds backlog + 1 connections.)
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import type { TestContext } from "node:test";

const CHILD = `
const server = require("node:net").createServer();
server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  process.stdout.write(server.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});`;

export async function startBlackhole(t: TestContext): Promise<number> {
  const child = spawn(process.execPath, ["-e", CHILD], { stdio: ["ignore", "pipe", "inherit"] });
  const fillers: Socket[] = [];
  t.after(() => {
    for (const socket of fillers) socket.destroy();
    child.kill();
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the listener exited early (${code})`)));
    child.stdout.once("data", (data: Buffer) => resolve(Number(String(data).trim())));
  });
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, "127.0.0.1");
    fillers.push(socket);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  }
  return port;
}
