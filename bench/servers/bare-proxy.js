// The floor Portico is measured against: node:http in, an undici Pool out, no
// header handling or routing at all.

import http from "node:http";
import { createRequire } from "node:module";

// undici from the repo root, the same copy Portico uses (bench/node_modules may hold another).
const { Pool } = createRequire(new URL("../../package.json", import.meta.url))("undici");
const pool = new Pool(process.env.UPSTREAM);

http
  .createServer(async (req, res) => {
    try {
      // Only a request that has a body passes it on: handing undici the open
      // stream of a bodiless GET sends it down undici's slower stream path (~9 %).
      const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
      const { statusCode, headers, body } = await pool.request({
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: hasBody ? req : null,
      });
      res.writeHead(statusCode, headers);
      body.pipe(res);
    } catch {
      res.writeHead(502).end();
    }
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
