/**
 * requestId: gives every request one id (generated, or the client's when trusted), sends it
 * upstream and back, and makes it the id of the request's error bodies and log lines (as Kong's
 * correlation-id and nginx's $request_id). Runs first of all plugins, in rewrite.
 */
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { nextRequestId } from "../../http/respond.js";
import { setRequestId } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { type RequestIdConfig, requestIdSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    requestId: z.input<typeof requestIdSchema>;
  }
}

/** At most 200 characters a log line or a header can carry as they are. */
const SAFE_ID = /^[A-Za-z0-9\-_.:/+=@]{1,200}$/;

interface RequestIdState {
  header: string;
  headerName: string;
  generate: () => string;
  trustIncoming: boolean;
  echo: boolean;
}

export const requestId = definePlugin({
  name: "requestId",
  priority: 12000,
  description: "Gives each request an id (X-Request-Id): generated or trusted from the client, sent upstream, echoed back, in error bodies and logs.",
  schema: requestIdSchema,
  init: (conf: RequestIdConfig): RequestIdState => ({
    header: conf.headerName.toLowerCase(),
    headerName: conf.headerName,
    generate: conf.generator === "uuid" ? randomUUID : nextRequestId,
    trustIncoming: conf.trustIncoming,
    echo: conf.echoDownstream,
  }),
  rewrite(ctx, state) {
    const headers = ctx.request.headers;
    const incoming = headers[state.header];
    const id = state.trustIncoming && typeof incoming === "string" && SAFE_ID.test(incoming) ? incoming : state.generate();
    setRequestId(ctx, id);
    // Replaces whatever the client sent: upstream sees exactly the id the gateway logs.
    headers[state.header] = id;
  },
  headerFilter(ctx, state) {
    if (state.echo) ctx.response.headers[state.header] = ctx.requestId;
  },
});
