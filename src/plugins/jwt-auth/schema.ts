import { z } from "zod";
import { TimeSchema } from "../../config/schema.js";
import { authCommonShape, JwtAlgorithmSchema } from "../../consumers/schema.js";

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const KEY_FIELDS = ["secret", "secretFile", "publicKey", "publicKeyFile", "jwksUri"] as const;

export const jwtAuthSchema = z
  .strictObject({
    headerNames: z
      .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/))
      .default(["authorization"])
      .describe('Headers the token is read from: "Bearer <token>" in Authorization, the token alone (or Bearer) in others (default ["authorization"]).'),
    uriParamNames: z.array(z.string().min(1)).default([]).describe("Query parameters the token is read from (default none: tokens in URLs end up in logs)."),
    cookieNames: z.array(z.string().min(1)).default([]).describe("Cookies the token is read from (default none)."),
    algorithms: z
      .array(JwtAlgorithmSchema)
      .min(1)
      .optional()
      .describe(
        "Algorithms accepted with the plugin's own key (default: HS256 with a secret, the key's own with a public key, every asymmetric one with a JWKS).",
      ),
    secret: z.string().min(32, "an HMAC secret needs at least 32 characters").optional().describe("HMAC secret (HS256/384/512) that signs every token."),
    secretFile: z.string().min(1).optional().describe("File holding the HMAC secret, relative to the config (trimmed)."),
    secretIsBase64: z.boolean().default(false).describe("The secret is base64."),
    publicKey: z.string().min(1).optional().describe("PEM public key (or certificate) that verifies every token (RS*/PS*/ES*/EdDSA)."),
    publicKeyFile: z.string().min(1).optional().describe("File holding the PEM public key, relative to the config."),
    jwksUri: z.url().optional().describe("URL of a JWKS: fetched when first needed, cached, refetched on an unknown kid (at most once per jwksCooldown)."),
    jwksCooldown: TimeSchema.default("30s").describe('Least time between two JWKS fetches, also for unknown kids (default "30s").'),
    jwksCacheMaxAge: TimeSchema.default("10m").describe('How long a fetched JWKS is used before it is fetched again (default "10m").'),
    jwksTimeout: TimeSchema.default("5s").describe('Timeout of a JWKS fetch (default "5s").'),
    consumers: z
      .boolean()
      .default(true)
      .describe("Also accept tokens signed with the jwtAuth credentials of consumers, found by the token's kid or keyClaimName claim (default true)."),
    keyClaimName: z.string().min(1).default("iss").describe('Claim that names the consumer credential (its key), as Kong\'s key_claim_name (default "iss").'),
    consumerClaim: z
      .string()
      .min(1)
      .default("sub")
      .describe(
        'With the plugin\'s own key: the claim that names the consumer (a consumers.<name>, else a consumer of that name with no groups; default "sub").',
      ),
    requireConsumer: z
      .boolean()
      .default(false)
      .describe("With the plugin's own key: refuse tokens whose consumerClaim is not a configured consumer (default false)."),
    issuer: stringOrList.optional().describe("Accepted iss value(s); when set, the claim is required."),
    audience: stringOrList.optional().describe("Accepted aud value(s); when set, the claim is required."),
    requireExp: z.boolean().default(true).describe("Refuse tokens without an exp claim (default true)."),
    clockSkew: TimeSchema.default("30s").describe('Leeway for exp, nbf and iat between clocks (default "30s").'),
    cacheSize: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe("Verified tokens remembered (0: none), so that a repeated token costs a map lookup (default 10000)."),
    cacheTtl: TimeSchema.default("5m").describe('Longest time a verified token is remembered; never past its exp (default "5m").'),
    ...authCommonShape,
  })
  .superRefine((conf, ctx) => {
    const given = KEY_FIELDS.filter((field) => conf[field] !== undefined);
    if (given.length > 1)
      ctx.addIssue({ code: "custom", path: [given[1] as string], message: `give one of ${KEY_FIELDS.join(", ")}, not ${given.join(" and ")}` });
    if (given.length === 0 && !conf.consumers)
      ctx.addIssue({ code: "custom", path: [], message: `give a key (${KEY_FIELDS.join(", ")}) or leave consumers on` });
    if (conf.headerNames.length + conf.uriParamNames.length + conf.cookieNames.length === 0) {
      ctx.addIssue({ code: "custom", path: ["headerNames"], message: "the token must be allowed somewhere: headerNames, uriParamNames or cookieNames" });
    }
    const hmac = conf.secret !== undefined || conf.secretFile !== undefined;
    for (const [index, alg] of (given.length === 1 ? (conf.algorithms ?? []) : []).entries()) {
      if (hmac !== alg.startsWith("HS")) {
        ctx.addIssue({
          code: "custom",
          path: ["algorithms", index],
          message: hmac ? `${alg} does not go with a secret` : `${alg} needs a secret, not a public key`,
        });
      }
    }
  });

export type JwtAuthConfig = z.output<typeof jwtAuthSchema>;
