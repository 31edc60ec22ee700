/**
 * A real redis-server for tests, on a loopback port from the OS, that a test can stop and start
 * again (to see Portico fail open or closed and recover). `.ci/run` installs redis-server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import type { TestContext } from "node:test";
import { closedPort } from "./gateway.js";
import { HANG_MS } from "./wait.js";

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: as if the machine went away). */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  // performance.now(): Date may be mocked by the test.
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.end("PING\r\n");
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`redis-server did not open port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts a redis-server for this test; stopped after it. */
export async function startRedis(t: TestContext): Promise<RedisServer> {
  const port = await closedPort();
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    child.once("error", (error) => {
      throw error;
    });
    await waitForPort(port, performance.now() + HANG_MS);
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    running.kill("SIGKILL");
    await once(running, "exit");
  };
  await start();
  t.after(stop);
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}
