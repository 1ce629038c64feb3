// An HTTP answer written straight onto a connection that the server has handed over: an Upgrade request's, which
// Node leaves to its 'upgrade' listener. The connection is closed after it.
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** `headers` as a flat [name, value, ...] list, without Content-Length or Connection, which this sets. */
export function writeRawResponse(socket: Duplex, status: number, headers: readonly string[], body: Buffer): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
  for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  lines.push(`Content-Length: ${body.length}`, "Connection: close", "", "");
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n")), body]));
}
