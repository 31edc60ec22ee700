import { z } from "zod";

export const requestIdSchema = z.strictObject({
  headerName: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid header name")
    .default("X-Request-Id")
    .describe("Header that carries the id: read from the client (with trustIncoming), sent upstream and echoed in the response."),
  generator: z
    .enum(["uuid", "counter"])
    .default("uuid")
    .describe('"uuid": a random UUID (crypto.randomUUID); "counter": the gateway\'s own short id, unique within the process (cheaper, guessable).'),
  trustIncoming: z
    .boolean()
    .default(false)
    .describe(
      "Keep the id the client (or a proxy in front) sent, when it is at most 200 safe characters (A-Z a-z 0-9 - _ . : / + = @); otherwise one is generated.",
    ),
  echoDownstream: z.boolean().default(true).describe("Send the id back to the client in the response header."),
});

export type RequestIdConfig = z.output<typeof requestIdSchema>;
