/** nginx's units for times and sizes, parsed once at load. */

const TIME_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `"500ms"`, `"5s"`, `"1h 30m"`, `"60"` (seconds, as nginx) or a number of milliseconds. */
export function parseTime(value: string | number): number {
  if (typeof value === "number") return value;
  let total = 0;
  for (const [, digits, unit] of value.matchAll(/(\d+)(ms|s|m|h|d|w)?/g)) {
    total += Number(digits) * (TIME_UNITS_MS[unit ?? "s"] ?? 1000);
  }
  return total;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `"1m"`, `"8k"`, `"1g"`, `"512"` (bytes) or a number of bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+)\s*([kKmMgG]?)\s*$/.exec(value);
  if (!match) throw new RangeError(`not an nginx size: ${value}`);
  return Number(match[1]) * (SIZE_UNITS[(match[2] ?? "").toLowerCase()] ?? 1);
}

/** nginx `large_client_header_buffers NUMBER SIZE`, as the one total Node's parser enforces. */
export function parseHeaderBuffers(value: string): number {
  const [count, size] = value.trim().split(/\s+/);
  return Number(count) * parseSize(size ?? "8k");
}
