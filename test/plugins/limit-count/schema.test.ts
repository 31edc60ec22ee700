import assert from "node:assert/strict";
import { test } from "node:test";
import { limitCountSchema } from "../../../src/plugins/limit-count/schema.js";

const parse = (value: unknown) => limitCountSchema.safeParse(value);

test("limitCount schema: the single-limit shorthand gets Kong's defaults", () => {
  const result = parse({ count: 10, window: "1m" });
  assert.ok(result.success);
  assert.equal(result.data.type, "fixed");
  assert.equal(result.data.key, "consumer");
  assert.equal(result.data.status, 429);
  assert.equal(result.data.message, "API rate limit exceeded");
  assert.equal(result.data.onStoreError, "allow");
  assert.equal(result.data.headers, true);
  assert.equal(result.data.policy, undefined);
});

test("limitCount schema: several limits, each with its own type", () => {
  const result = parse({
    limits: [
      { count: 10, window: "1s", type: "sliding" },
      { count: 1000, window: 3_600_000 },
    ],
  });
  assert.ok(result.success);
  assert.deepEqual(
    result.data.limits?.map((l) => l.type),
    ["sliding", "fixed"],
  );
});

test("limitCount schema: refuses what makes no limit", () => {
  const bad: Array<[unknown, string]> = [
    [{}, "count"],
    [{ count: 10 }, "window"],
    [{ window: "1m" }, "count"],
    [{ count: 10, window: "1m", limits: [{ count: 1, window: "1s" }] }, "limits"],
    [{ limits: [] }, "limits"],
    [{ count: 0, window: "1m" }, "count"],
    [{ count: 1.5, window: "1m" }, "count"],
    [{ count: 10, window: "1 fortnight" }, "window"],
    [{ count: 10, window: 0 }, "window"],
    [{ count: 10, window: "1m", type: "rolling" }, "type"],
    [{ count: 10, window: "1m", status: 200 }, "status"],
    [{ count: 10, window: "1m", policy: "cluster" }, "policy"],
    [{ count: 10, window: "1m", onStoreError: "maybe" }, "onStoreError"],
    [{ count: 10, window: "1m", key: "everyone" }, "key"],
    [{ count: 10, window: "1m", key: { header: "" } }, "key"],
    [{ count: 10, window: "1m", colour: "red" }, ""],
  ];
  for (const [value, field] of bad) {
    const result = parse(value);
    assert.equal(result.success, false, JSON.stringify(value));
    if (field)
      assert.ok(
        result.error?.issues.some((issue) => issue.path[0] === field),
        `${JSON.stringify(value)}: ${JSON.stringify(result.error?.issues)}`,
      );
  }
});

test("limitCount schema: the key forms", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx variable in braces, not a JS template
  for (const key of ["ip", "consumer", "$http_x_api_key", "${remote_addr}:$uri", { header: "X-Api-Key" }, { hook: "./key.js#tenant" }, { hook: () => "k" }]) {
    assert.ok(parse({ count: 1, window: "1s", key }).success, JSON.stringify(key));
  }
});
