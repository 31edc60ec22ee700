/** The one line a config problem is printed as: `FILE:LINE:COL  path.to.field  message`. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, type ConfigIssue, ERRORS, formatIssue, PorticoError } from "../../src/errors.js";

const issue: ConfigIssue = {
  file: "/etc/portico.yaml",
  line: 12,
  column: 9,
  path: "virtualHosts.localhost.locations./.retrun",
  message: 'unknown field "retrun": did you mean "return"?',
  severity: "error",
};

test("an error, a warning, one without a path, one without a position", () => {
  assert.equal(formatIssue(issue), '/etc/portico.yaml:12:9  virtualHosts.localhost.locations./.retrun  unknown field "retrun": did you mean "return"?');
  assert.equal(
    formatIssue({ ...issue, severity: "warning", message: "has no effect" }),
    "/etc/portico.yaml:12:9  virtualHosts.localhost.locations./.retrun  warning: has no effect",
  );
  assert.equal(formatIssue({ ...issue, line: 1, column: 1, path: "", message: "file not found" }), "/etc/portico.yaml:1:1  (root)  file not found");
  assert.equal(
    formatIssue({ ...issue, file: "<inline>", line: 0, column: 0 }),
    '<inline>  virtualHosts.localhost.locations./.retrun  unknown field "retrun": did you mean "return"?',
  );
});

test("ConfigError carries every issue, and its message is their lines", () => {
  const second = { ...issue, line: 14, path: "listen", message: "bad" };
  const error = new ConfigError("PTC_ERR_CONFIG_INVALID", [issue, second]);
  assert.ok(error instanceof PorticoError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.code, "PTC_ERR_CONFIG_INVALID");
  assert.deepEqual(error.issues, [issue, second]);
  assert.equal(error.message, `${formatIssue(issue)}\n${formatIssue(second)}`);
});

test("every config error code is in ERRORS", () => {
  for (const code of ["PTC_ERR_CONFIG_READ", "PTC_ERR_CONFIG_PARSE", "PTC_ERR_CONFIG_INVALID", "PTC_ERR_CONFIG_ENV"]) {
    assert.ok(code in ERRORS, code);
  }
});
