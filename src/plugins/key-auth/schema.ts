import { z } from "zod";
import { authCommonShape } from "../../consumers/schema.js";

export const keyAuthSchema = z
  .strictObject({
    keyNames: z
      .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "use a name valid as a header, query parameter and cookie"))
      .min(1)
      .default(["apikey"])
      .describe('Names the key is looked for under, in order (header, then query parameter, then cookie; default ["apikey"], as Kong).'),
    keyInHeader: z.boolean().default(true).describe("Look for the key in a request header named after keyNames (default true)."),
    keyInQuery: z.boolean().default(true).describe("Look for the key in a query parameter named after keyNames (default true)."),
    keyInCookie: z.boolean().default(false).describe("Look for the key in a cookie named after keyNames (default false)."),
    runOnPreflight: z.boolean().default(true).describe("Also require a key on CORS preflight requests (OPTIONS); false lets them through (default true)."),
    ...authCommonShape,
  })
  .refine((conf) => conf.keyInHeader || conf.keyInQuery || conf.keyInCookie, { message: "the key must be allowed somewhere: header, query or cookie" });

export type KeyAuthConfig = z.output<typeof keyAuthSchema>;
