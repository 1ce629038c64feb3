// The cold-start floor: Node.js and node:http alone, answering 200 on every path, readiness included.
import { createServer } from "node:http";

createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"status":"ok"}');
}).listen(Number(process.env.PORT ?? 8080));
