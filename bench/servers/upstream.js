// The upstream every proxy forwards to: as cheap as node:http allows, so the
// proxy in front of it is what the numbers measure.
import http from "node:http";

const SMALL = Buffer.alloc(100, "a");
const BIG = Buffer.alloc(1024 * 1024, "b"); // allocated once, never per request

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": SMALL.length });
    res.end(SMALL);
  } else if (req.method === "GET" && req.url === "/cacheable") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": SMALL.length, "cache-control": "public, max-age=3600" });
    res.end(SMALL);
  } else if (req.method === "GET" && req.url === "/1m") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": BIG.length });
    res.end(BIG);
  } else if (req.method === "POST" && req.url === "/echo-size") {
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
    });
    req.on("end", () => {
      const body = String(size);
      res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
      res.end(body);
    });
  } else {
    res.writeHead(404, { "content-length": 0 });
    res.end();
  }
});

// Outlive the proxies' pooled sockets so no run pays for reconnects.
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), "127.0.0.1");
// A second port makes a second "server" for the two-server upstream group (same process, same CPU).
if (process.env.PORT2) {
  const second = http.createServer(server.listeners("request")[0]);
  second.keepAliveTimeout = 60_000;
  second.listen(Number(process.env.PORT2), "127.0.0.1");
}
