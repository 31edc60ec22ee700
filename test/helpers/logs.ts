import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { type Logger, pino } from "pino";
import { waitFor } from "./wait.js";

/** A pino logger whose lines land in an array, for asserting what was logged. */
export function captureLogs(level = "info"): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** A path for an access log in a temp folder removed after the test. */
export async function accessLogFile(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "portico-access-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, "access.log");
}

/** The JSON access records written so far (after the gateway flushed its logs). */
export async function accessRecords(gw: { flushLogs(): Promise<void> }, file: string): Promise<Array<Record<string, unknown>>> {
  await gw.flushLogs();
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The access records once `count` are written (a record is written when the response closes on the server). */
export function waitForRecords(gw: { flushLogs(): Promise<void> }, file: string, count: number): Promise<Array<Record<string, unknown>>> {
  return waitFor(`${count} access records`, async () => {
    const found = await accessRecords(gw, file);
    return found.length >= count ? found : undefined;
  });
}

/** The first access record that `match` accepts, once written. */
export function waitForRecord(
  gw: { flushLogs(): Promise<void> },
  file: string,
  what: string,
  match: (record: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  return waitFor(`the access record of ${what}`, async () => (await accessRecords(gw, file)).find(match));
}
