import { z } from "zod";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An origin pattern: checked at load so that a bad regex fails `portico check`. */
const OriginSchema = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const regex = /^~(\*)?\s+(.+)$/.exec(value);
    if (regex) {
      try {
        new RegExp(regex[2] as string);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: `not a valid regular expression: ${(error as Error).message}` });
      }
      return;
    }
    if (value === "*" || value === "null") return;
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(value)) {
      ctx.addIssue({ code: "custom", message: 'expected "*", an origin such as "https://app.example.com", "https://*.example.com" or "~ ^https://…$"' });
    }
  });

export const corsSchema = z.strictObject({
  origins: z
    .array(OriginSchema)
    .min(1)
    .default(["*"])
    .describe(
      'Allowed origins: "*" (any), exact ("https://app.example.com"), wildcard ("https://*.example.com", one or more labels), or a regex ("~ ^https://app[0-9]+\\\\.example\\\\.com$", "~*" for case-insensitive). Default ["*"].',
    ),
  methods: z
    .array(z.string().regex(TOKEN, "not a method name"))
    .min(1)
    .default(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"])
    .describe("Access-Control-Allow-Methods of a preflight answer."),
  headers: z
    .array(z.string().regex(TOKEN, "not a header name"))
    .optional()
    .describe("Access-Control-Allow-Headers of a preflight answer; default: echo the request's Access-Control-Request-Headers."),
  exposeHeaders: z
    .array(z.string().regex(TOKEN, "not a header name"))
    .default([])
    .describe("Access-Control-Expose-Headers: response headers the page may read."),
  credentials: z
    .boolean()
    .default(false)
    .describe(
      'Access-Control-Allow-Credentials: true. With origins "*", the request\'s origin is echoed instead of "*" (the Fetch spec forbids "*" with credentials).',
    ),
  maxAge: z.number().int().nonnegative().optional().describe("Access-Control-Max-Age of a preflight answer, in seconds; default: not sent."),
  preflightContinue: z
    .boolean()
    .default(false)
    .describe("Send OPTIONS preflights on to the location (upstream) instead of answering them at the gateway with 204."),
});

export type CorsConfig = z.output<typeof corsSchema>;
