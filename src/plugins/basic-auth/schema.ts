import { z } from "zod";
import { TimeSchema } from "../../config/schema.js";
import { authCommonShape } from "../../consumers/schema.js";

const userName = z
  .string()
  .min(1)
  .regex(/^[^:]+$/, "a user name cannot contain ':'");

const optionsSchema = z
  .strictObject({
    users: z
      .record(userName, z.string().min(1))
      .optional()
      .describe('Users and their passwords (plain, or an htpasswd-style hash: bcrypt, $apr1$, {SHA}); NixOS\'s basicAuth = { user = "password"; }.'),
    htpasswdFile: z
      .string()
      .min(1)
      .optional()
      .describe("An htpasswd file (bcrypt, $apr1$, {SHA}), relative to the config; read at load and on reload (NixOS basicAuthFile)."),
    allowPlainText: z.boolean().default(false).describe("Accept plain-text passwords in htpasswdFile (default false: such a line is a config error)."),
    consumers: z.boolean().default(true).describe("Also accept the basicAuth credentials of consumers.<name> (default true)."),
    cacheTtl: TimeSchema.default("30s").describe(
      'How long a successful check is remembered (keyed by a SHA-256 of user:password), sparing bcrypt\'s cost; 0 disables (default "30s").',
    ),
    ...authCommonShape,
  })
  .refine((conf) => conf.users !== undefined || conf.htpasswdFile !== undefined || conf.consumers, {
    message: "give users, htpasswdFile, or leave consumers on",
  });

/** `basicAuth: { users, htpasswdFile, … }`, or NixOS's short form `basicAuth: { alice: "password" }`. */
export const basicAuthSchema = z.union([
  optionsSchema,
  z
    .record(userName, z.string().min(1))
    .refine((users) => Object.keys(users).length > 0, { message: "give at least one user" })
    .transform((users) => optionsSchema.parse({ users })),
]);

export type BasicAuthConfig = z.output<typeof optionsSchema>;
