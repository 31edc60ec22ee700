import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { ERRORS } from "../src/errors.js";

test("every error code is documented in docs/errors.md, and only those", async () => {
  const doc = await readFile(new URL("../docs/errors.md", import.meta.url), "utf8");
  const documented = new Set(doc.match(/PTC_ERR_[A-Z_]+/g));
  for (const code of Object.keys(ERRORS)) assert.ok(documented.has(code), `${code} is missing from docs/errors.md`);
  for (const code of documented) assert.ok(code in ERRORS, `docs/errors.md names ${code}, which src/errors.ts lacks`);
});

test("request-time errors carry an HTTP status", () => {
  for (const [code, { status }] of Object.entries(ERRORS)) {
    if (code.startsWith("PTC_ERR_REQUEST") || code.startsWith("PTC_ERR_UPSTREAM") || code.startsWith("PTC_ERR_HOOK_FAILED")) {
      assert.ok(status >= 400 && status < 600, code);
    }
  }
});
