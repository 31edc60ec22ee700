/**
 * ipRestriction: allow and deny lists of CIDRs (IPv4, IPv6), as Kong's ip-restriction: an
 * address on `deny` is refused; when `allow` is not empty, an address not on it is refused too.
 * The address is the client address of the whole gateway (trustedProxies). The lists are
 * compiled once into byte matchers.
 */
import type { z } from "zod";
import { definePlugin } from "../../lifecycle/plugin.js";
import { type AddressMatcher, compileCidrs } from "../../router/cidr.js";
import { type IpRestrictionConfig, ipRestrictionSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    ipRestriction: z.input<typeof ipRestrictionSchema>;
  }
}

interface IpRestrictionState {
  allow: AddressMatcher | null;
  deny: AddressMatcher | null;
  status: number;
  message: string;
  logger: { info: (obj: object, msg: string) => void };
}

export const ipRestriction = definePlugin({
  name: "ipRestriction",
  priority: 11000,
  description: "Refuses clients by address: allow and deny lists of IPv4/IPv6 CIDRs (deny wins; a non-empty allow refuses everyone else).",
  schema: ipRestrictionSchema,
  init: (conf: IpRestrictionConfig, env): IpRestrictionState => ({
    allow: conf.allow.length > 0 ? compileCidrs(conf.allow) : null,
    deny: conf.deny.length > 0 ? compileCidrs(conf.deny) : null,
    status: conf.status,
    message: conf.message,
    logger: env.logger,
  }),
  access(ctx, state) {
    const ip = ctx.request.ip;
    const denied = state.deny?.(ip) === true ? "on the deny list" : state.allow !== null && !state.allow(ip) ? "not on the allow list" : null;
    if (denied === null) return undefined;
    state.logger.info({ code: "PTC_ERR_ACCESS_IP_DENIED", requestId: ctx.requestId, ip, location: ctx.location.key, reason: denied }, "client address refused");
    return ctx.exit(state.status, { message: state.message, requestId: ctx.requestId });
  },
});
