import { z } from "zod";
import { KeySchema } from "../../limits/key.js";
import { rejectShape, storeShape } from "../../limits/reject.js";

export const RATE_PATTERN = /^\s*(\d+)\s*r\/([sm])\s*$/;

export const limitReqSchema = z
  .strictObject({
    rate: z
      .string()
      .regex(RATE_PATTERN, 'expected an nginx rate such as "10r/s" or "30r/m"')
      .refine((rate) => Number(RATE_PATTERN.exec(rate)?.[1]) > 0, { message: "the rate must be above 0" })
      .describe('Average rate allowed per key: "10r/s" or "30r/m" (nginx limit_req_zone rate).'),
    burst: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe("Requests beyond the rate that are queued (delayed) rather than refused (nginx burst; default 0)."),
    nodelay: z.boolean().default(false).describe("Serve the burst at once instead of spacing it out at the rate (nginx nodelay)."),
    delay: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Excess requests served at once before the rest of the burst is delayed (nginx delay=, two-stage limiting; default 0)."),
    key: KeySchema.default("ip"),
    maxKeys: z.number().int().positive().default(100_000).describe("Most keys the memory store keeps (least recently used go first), as nginx's zone size."),
    ...storeShape,
    ...rejectShape,
  })
  .superRefine((conf, ctx) => {
    if (conf.nodelay && conf.delay !== undefined) ctx.addIssue({ code: "custom", message: "give nodelay or delay, not both", path: ["delay"] });
  });

export type LimitReqConfig = z.output<typeof limitReqSchema>;

/** nginx keeps rates in requests per 1000 seconds ("10r/s" is 10000), so that 1r/m is exact enough. */
export function parseRate(rate: string): number {
  const match = RATE_PATTERN.exec(rate) as RegExpExecArray;
  const n = Number(match[1]);
  return match[2] === "s" ? n * 1000 : Math.floor((n * 1000) / 60);
}
