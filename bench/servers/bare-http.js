// The ceiling for a `return` location: node:http answering a fixed string.
import http from "node:http";

const BODY = "Hello World!";

http
  .createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
    res.end(BODY);
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
