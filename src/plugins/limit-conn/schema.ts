import { z } from "zod";
import { TimeSchema } from "../../config/schema.js";
import { KeySchema } from "../../limits/key.js";
import { rejectShape, storeShape } from "../../limits/reject.js";

export const limitConnSchema = z.strictObject({
  conn: z.number().int().positive().describe("Requests in flight allowed at once per key (nginx limit_conn)."),
  key: KeySchema.default("ip"),
  ttl: TimeSchema.default("1h").describe(
    "Redis only: a key's count expires this long after its last request, so that requests of an instance that crashed are not counted for ever (default 1h).",
  ),
  ...storeShape,
  ...rejectShape,
  message: z.string().default("Too many concurrent requests").describe("Message of the refusal's JSON body."),
});

export type LimitConnConfig = z.output<typeof limitConnSchema>;
