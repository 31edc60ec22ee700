import { z } from "zod";

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const names = z.array(z.string().min(1)).min(1);

export const ruleShape = {
  methods: z
    .array(z.string().regex(/^[A-Za-z]+$/, "an HTTP method"))
    .min(1)
    .optional()
    .describe("The rule applies only to these methods (default: all)."),
  allowConsumers: names.optional().describe("Only these consumers (by name) are let through."),
  denyConsumers: names.optional().describe("These consumers are refused."),
  allowGroups: names.optional().describe("Only consumers in at least one of these groups are let through."),
  denyGroups: names.optional().describe("Consumers in any of these groups are refused."),
  requireScopes: names.optional().describe("Every one of these scopes must be in the token's scope (or scp) claim."),
  requireClaims: z
    .record(z.string().min(1), z.union([scalar, z.array(scalar).min(1)]))
    .optional()
    .describe(
      'Claims the token (ctx.jwt) must have: name (dotted path for nested claims) → value, a list (any of), or "*" (present). A list claim matches when it contains a wanted value.',
    ),
};

const ruleSchema = z.strictObject(ruleShape);

export const authorizeSchema = z.strictObject({
  ...ruleShape,
  rules: z.array(ruleSchema).optional().describe("More rules, each checked when its methods match (all that match must pass)."),
  scopeClaims: z
    .array(z.string().min(1))
    .min(1)
    .default(["scope", "scp"])
    .describe('Claims that carry the scopes: a space-separated string or a list (default ["scope", "scp"]).'),
  status: z.number().int().min(400).max(599).default(403).describe("Status of a refusal (default 403)."),
});

export type AuthorizeConfig = z.output<typeof authorizeSchema>;
export type AuthorizeRule = z.output<typeof ruleSchema>;
