/**
 * `consumers.<name>`: who may call the gateway (Kong's and APISIX's consumers). Each consumer has
 * groups, an optional customId, and per-plugin credentials. Every secret field also takes a
 * `*File` twin (a path relative to the config, read at load and on reload: the NixOS convention);
 * `${env:NAME}` is substituted by the loader before this schema sees the value.
 */
import { z } from "zod";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const exactlyOne = (fields: string[]) => (value: Record<string, unknown>) => fields.filter((field) => value[field] !== undefined).length === 1;

export const JWT_ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;
export const JwtAlgorithmSchema = z.enum(JWT_ALGORITHMS).describe('A JWS algorithm. "none" is never accepted.');

const keyAuthCredential = z
  .strictObject({
    key: z
      .string()
      .min(8, "an API key needs at least 8 characters")
      .optional()
      .describe("The API key (may come from the environment, see docs/configuration.md)."),
    keyFile: z
      .string()
      .min(1)
      .optional()
      .describe("File holding the API key, relative to the config (read at load and on reload; surrounding whitespace trimmed)."),
  })
  .refine(exactlyOne(["key", "keyFile"]), { message: "give key or keyFile (exactly one)" });

const basicAuthCredential = z
  .strictObject({
    username: z
      .string()
      .min(1)
      .regex(/^[^:]+$/, "a user name cannot contain ':'")
      .optional()
      .describe("User name (default: the consumer's name)."),
    password: z.string().min(1).optional().describe("The password in plain text, or an htpasswd-style hash ($2y$/$2a$/$2b$ bcrypt, $apr1$, {SHA})."),
    passwordFile: z.string().min(1).optional().describe("File holding the password or its hash, relative to the config (trimmed)."),
  })
  .refine(exactlyOne(["password", "passwordFile"]), { message: "give password or passwordFile (exactly one)" });

const jwtAuthCredential = z
  .strictObject({
    key: z
      .string()
      .min(1)
      .describe("Matched against the token's key claim (keyClaimName of the plugin, default iss) or its kid header, as Kong's jwt plugin does."),
    algorithm: JwtAlgorithmSchema.optional().describe(
      "The only algorithm this credential accepts (default HS256 with a secret; from the key's type with a public key).",
    ),
    secret: z.string().min(32, "an HMAC secret needs at least 32 characters").optional().describe("HMAC secret for HS256/384/512."),
    secretFile: z.string().min(1).optional().describe("File holding the HMAC secret (trimmed)."),
    secretIsBase64: z.boolean().default(false).describe("The secret is base64 (as Kong's secret_is_base64)."),
    publicKey: z.string().min(1).optional().describe("PEM public key (SPKI or certificate) for RS*/PS*/ES*/EdDSA."),
    publicKeyFile: z.string().min(1).optional().describe("File holding the PEM public key."),
  })
  .refine(exactlyOne(["secret", "secretFile", "publicKey", "publicKeyFile"]), { message: "give one of secret, secretFile, publicKey, publicKeyFile" });

export const consumerSchema = z.strictObject({
  groups: z.array(z.string().min(1)).default([]).describe("Groups the consumer belongs to (for authorize and the X-Consumer-Groups header)."),
  customId: z.string().min(1).optional().describe("An id of this consumer in another system (Kong's custom_id), sent as X-Consumer-Custom-ID."),
  keyAuth: z.array(keyAuthCredential).optional().describe("API keys of this consumer, for keyAuth."),
  basicAuth: basicAuthCredential.optional().describe("User name and password of this consumer, for basicAuth."),
  jwtAuth: z.array(jwtAuthCredential).optional().describe("JWT credentials of this consumer, for jwtAuth."),
});

export const consumersSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.@-]+$/, "consumer names use letters, digits, _ . @ -"), consumerSchema)
  .describe("Consumers by name: groups and credentials for keyAuth, basicAuth and jwtAuth (Kong/APISIX consumers).");

export type ConsumerConfig = z.output<typeof consumerSchema>;
export type ConsumersConfig = z.output<typeof consumersSchema>;

/** Upstream header names for the consumer, or false to send none. */
export const consumerHeadersSchema = z
  .union([
    z.literal(false),
    z.strictObject({
      username: z.string().regex(HEADER_NAME).default("X-Consumer-Username").describe("Header with the consumer's name."),
      customId: z.string().regex(HEADER_NAME).default("X-Consumer-Custom-ID").describe("Header with the consumer's customId (when it has one)."),
      groups: z.string().regex(HEADER_NAME).default("X-Consumer-Groups").describe("Header with the consumer's groups, comma-separated (when it has some)."),
      credential: z.string().regex(HEADER_NAME).default("X-Credential-Identifier").describe("Header with the id of the credential used (never the secret)."),
      anonymous: z.string().regex(HEADER_NAME).default("X-Anonymous-Consumer").describe('Header set to "true" when the consumer is the anonymous one.'),
    }),
  ])
  .default({
    username: "X-Consumer-Username",
    customId: "X-Consumer-Custom-ID",
    groups: "X-Consumer-Groups",
    credential: "X-Credential-Identifier",
    anonymous: "X-Anonymous-Consumer",
  })
  .describe("Headers that tell the upstream who the consumer is (false: none). Whatever the client sent under these names is always removed.");

/** Options every auth plugin shares (keyAuth, basicAuth, jwtAuth); spread into a plugin's schema. */
export const authCommonShape = {
  hideCredentials: z.boolean().default(true).describe("Remove the credential (header, cookie or query parameter) before proxying (default true)."),
  anonymous: z
    .string()
    .min(1)
    .optional()
    .describe("Name of a consumer that unauthenticated requests go through as (Kong's anonymous); without it they get 401."),
  consumerHeaders: consumerHeadersSchema,
  realm: z
    .string()
    .regex(/^[^"\\\r\n]*$/, "no quotes or backslashes")
    .default("portico")
    .describe("Realm of the WWW-Authenticate challenge."),
};
