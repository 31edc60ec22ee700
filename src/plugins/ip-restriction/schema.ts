import { z } from "zod";
import { CidrSchema } from "../../config/schema.js";

export const ipRestrictionSchema = z
  .strictObject({
    allow: z.array(CidrSchema).default([]).describe("Client addresses or CIDRs let through; when the list is not empty, every other address is refused."),
    deny: z.array(CidrSchema).default([]).describe("Client addresses or CIDRs refused; deny wins over allow."),
    status: z.number().int().min(400).max(599).default(403).describe("Status of the refusal (default 403)."),
    message: z.string().default("Your IP address is not allowed").describe("Message of the refusal's JSON body."),
  })
  .refine((conf) => conf.allow.length > 0 || conf.deny.length > 0, { message: "give allow or deny (or both) a CIDR" });

export type IpRestrictionConfig = z.output<typeof ipRestrictionSchema>;
