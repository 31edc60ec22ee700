import { z } from "zod";
import { TimeSchema } from "../../config/schema.js";
import { parseTime } from "../../config/units.js";
import { KeySchema } from "../../limits/key.js";
import { rejectShape, storeShape } from "../../limits/reject.js";

const WindowSchema = TimeSchema.refine((value) => parseTime(value) >= 1, { message: "a window lasts at least 1ms" }).describe(
  'Length of the window: an nginx time ("1s", "1m", "1h", "1d") or milliseconds.',
);
const CountSchema = z.number().int().positive().describe("Requests allowed per window.");
const TypeSchema = z
  .enum(["fixed", "sliding"])
  .default("fixed")
  .describe('"fixed": counters reset at each window boundary; "sliding": the previous window\'s count, weighted by how much of it still overlaps, is added.');

export const limitSchema = z.strictObject({ count: CountSchema, window: WindowSchema, type: TypeSchema });

export const limitCountSchema = z
  .strictObject({
    count: CountSchema.optional(),
    window: WindowSchema.optional(),
    type: TypeSchema,
    limits: z.array(limitSchema).min(1).optional().describe("Several limits, all enforced (e.g. 10 a second and 1000 an hour); instead of count and window."),
    key: KeySchema.default("consumer"),
    headers: z
      .boolean()
      .default(true)
      .describe("Send RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and RateLimit-Policy on every response, not only refusals."),
    maxKeys: z.number().int().positive().default(100_000).describe("Most keys the memory store keeps (least recently used go first)."),
    ...storeShape,
    ...rejectShape,
  })
  .superRefine((conf, ctx) => {
    const single = conf.count !== undefined || conf.window !== undefined;
    if (single && conf.limits) ctx.addIssue({ code: "custom", message: "give either count and window, or limits, not both", path: ["limits"] });
    else if (!single && !conf.limits) ctx.addIssue({ code: "custom", message: "give count and window (or limits)", path: ["count"] });
    else if (single && (conf.count === undefined || conf.window === undefined)) {
      ctx.addIssue({ code: "custom", message: "count and window go together", path: [conf.count === undefined ? "count" : "window"] });
    }
  });

export type LimitCountConfig = z.output<typeof limitCountSchema>;
