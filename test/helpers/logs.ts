import { type Logger, pino } from "pino";

/** A pino logger whose lines land in an array, for asserting what was logged. */
export function captureLogs(level = "info"): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}
