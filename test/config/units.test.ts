/** nginx's time and size units. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SIZE_PATTERN, TIME_PATTERN } from "../../src/config/schema.js";
import { parseHeaderBuffers, parseSize, parseTime } from "../../src/config/units.js";

test("times: units, sums, bare strings in seconds (nginx), numbers in milliseconds", () => {
  assert.equal(parseTime("500ms"), 500);
  assert.equal(parseTime("5s"), 5000);
  assert.equal(parseTime("1m"), 60_000);
  assert.equal(parseTime("1h 30m"), 5_400_000);
  assert.equal(parseTime("1d"), 86_400_000);
  assert.equal(parseTime("1w"), 604_800_000);
  assert.equal(parseTime("60"), 60_000);
  assert.equal(parseTime(250), 250);
  assert.equal(parseTime("0"), 0);
});

test("sizes: k, m, g in either case, bytes without a unit", () => {
  assert.equal(parseSize("8k"), 8192);
  assert.equal(parseSize("1m"), 1_048_576);
  assert.equal(parseSize("1M"), 1_048_576);
  assert.equal(parseSize("1g"), 1_073_741_824);
  assert.equal(parseSize("512"), 512);
  assert.equal(parseSize(" 2 k "), 2048);
  assert.equal(parseSize(0), 0);
  assert.throws(() => parseSize("1x"), /not an nginx size: 1x/);
});

test("large_client_header_buffers is NUMBER × SIZE", () => {
  assert.equal(parseHeaderBuffers("4 8k"), 32_768);
  assert.equal(parseHeaderBuffers("2 1m"), 2_097_152);
});

test("the schema's patterns accept what the parsers read and refuse the rest", () => {
  for (const ok of ["500ms", "5s", "1h 30m", "60", " 1m "]) assert.match(ok, TIME_PATTERN);
  for (const bad of ["fast", "5 sec", "-1s", "1.5s", ""]) assert.doesNotMatch(bad, TIME_PATTERN);
  for (const ok of ["8k", "1M", "512", " 1 g "]) assert.match(ok, SIZE_PATTERN);
  for (const bad of ["1x", "1kb", "1.5m", "m"]) assert.doesNotMatch(bad, SIZE_PATTERN);
});
