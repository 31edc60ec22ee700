// npm peer: fast-gateway (restana + fast-proxy-lite, keep-alive http.Agent), one catch-all route.
import gateway from "fast-gateway";

const server = gateway({
  // disableQsOverwrite: otherwise it rebuilds the query and sends "/1m?", which the upstream 404s.
  routes: [{ prefix: "", target: process.env.UPSTREAM, disableQsOverwrite: true }],
});
await server.start(Number(process.env.PORT), "127.0.0.1");
