// A refusal sent before the request body has arrived (401 before reading, 413 past the limit) ends the connection: the
// rest of the body would otherwise be read to the end, however large, before the connection could take the next
// request. The close lingers: the answer goes out, then a FIN, and what the client is still sending is read and
// dropped for a moment. Closing at once would reset the connection while the client's bytes arrive, and a reset
// makes the client's system throw away the answer it had not read yet.
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { MiddlewareHandler } from "hono";

/** How long a closing connection keeps reading what the client still sends, at most. */
const LINGER_MS = 2_000;

/** The Node request under @hono/node-server; absent when the app is called in-process. */
export function incomingOf(env: unknown): IncomingMessage | undefined {
  return (env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

export function closeAfterEarlyAnswer(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const incoming = incomingOf(c.env);
    if (!incoming || incoming.complete) return;
    c.res.headers.set("Connection", "close");
    lingerOnClose(incoming.socket);
  };
}

/**
 * Node's server ends a Connection: close response with socket.destroySoon(), which destroys the socket as soon as the
 * answer is flushed; this one half-closes instead and destroys when the client closes its side or the linger is over.
 */
export function lingerOnClose(socket: Socket & { destroySoon?: () => void }): void {
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("end", () => socket.destroy());
    socket.once("close", () => clearTimeout(timer));
  };
}
