// Type-level checks, run by `npm run typecheck` (part of `npm run lint` and CI): each phase's
// context allows only what that phase may do. Every @ts-expect-error must stay an error.
import { defineConfig } from "../../src/index.js";

export default defineConfig({
  virtualHosts: {
    localhost: {
      locations: {
        "/": {
          proxyPass: "http://127.0.0.1:9000",
          access: (ctx) => (ctx.request.headers.authorization ? undefined : ctx.exit(401, { message: "No credentials" })),
          headerFilter: (ctx) => {
            ctx.response.status = 201;
            ctx.response.headers["x-seen"] = ctx.request.path;
            // @ts-expect-error: the request can no longer be stopped once the upstream answered
            ctx.exit(403);
          },
          bodyFilter: (ctx) => {
            if (ctx.eof) ctx.chunk = Buffer.from("end");
            // @ts-expect-error: the status is sent before the body
            ctx.response.status = 500;
          },
          log: (ctx) => {
            void ctx.response.status;
            // @ts-expect-error: a log hook cannot change a response already sent
            ctx.response.headers["x-late"] = "no";
            // @ts-expect-error: misspelt phase fields are caught too
            void ctx.chunck;
          },
        },
        "/typo": {
          // @ts-expect-error: misspelt keys are type errors in a TS config
          retrun: "200 'x'",
        },
      },
    },
  },
});
