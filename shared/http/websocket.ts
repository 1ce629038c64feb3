// WebSocket handshakes answered by the function's own Hono routes, so that a WebSocket gets the same routing,
// authentication and error answers (401, 404, 503 + Retry-After in the documented shape) as any request. The route
// accepts the handshake through c.env.webSocket; any other answer is written back as the HTTP refusal of the upgrade.
// Only the functions that serve WebSockets import this (and `ws`); serveFunction takes it as its upgrade listener.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { log } from "../log";
import { writeRawResponse } from "./raw-response";
import type { UpgradeListener } from "./server";

/** What a route that accepts WebSockets finds in c.env; absent for a request that asked for no upgrade. */
export type WebSocketEnv = { Bindings: { webSocket?: WebSocketHandshake } };

export interface WebSocketSession {
  open(ws: WebSocket): void;
  /** The handshake failed after the route accepted it (a malformed key, the client gone): nothing will open. */
  abort(): void;
}

export class WebSocketHandshake {
  session?: WebSocketSession;

  accept(session: WebSocketSession): void {
    this.session = session;
  }
}

// Clients send nothing but control frames; a few KiB bounds what one may make the process buffer.
const MAX_PAYLOAD_BYTES = 4 * 1024;

export class WebSockets {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, clientTracking: true });

  readonly upgrade: UpgradeListener = (req, socket, head, fetch) => {
    socket.on("error", () => socket.destroy());
    void this.handshake(req, socket, head, fetch);
  };

  /** Open WebSockets in this process. */
  get size(): number {
    return this.server.clients.size;
  }

  /** Waits up to `graceMs` for every WebSocket to finish its closing handshake, then cuts those that did not. */
  async closed(graceMs: number): Promise<void> {
    const open = [...this.server.clients];
    await Promise.race([
      Promise.all(open.map((ws) => new Promise((done) => (ws.readyState === ws.CLOSED ? done(undefined) : ws.once("close", done))))),
      new Promise((done) => setTimeout(done, graceMs).unref()),
    ]);
    for (const ws of open) ws.terminate();
  }

  private async handshake(req: IncomingMessage, socket: Duplex, head: Buffer, fetch: Parameters<UpgradeListener>[3]): Promise<void> {
    const handshake = new WebSocketHandshake();
    let answer: Response;
    try {
      answer = await fetch(toRequest(req), { webSocket: handshake });
    } catch (err) {
      log("error", "websocket handshake failed", { err: String(err) });
      answer = new Response(null, { status: 500 });
    }
    const session = handshake.session;
    if (!session || !answer.ok) {
      session?.abort();
      await refuse(socket, answer);
      return;
    }
    if (socket.destroyed) return session.abort();
    let opened = false;
    socket.once("close", () => opened || session.abort());
    this.server.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      session.open(ws);
    });
  }
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, { method: req.method ?? "GET", headers });
}

/** Writes the route's answer as the response to the Upgrade request, then closes the connection. */
async function refuse(socket: Duplex, answer: Response): Promise<void> {
  const body = Buffer.from(await answer.arrayBuffer());
  const headers: string[] = [];
  answer.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "connection" && name !== "transfer-encoding") headers.push(name, value);
  });
  writeRawResponse(socket, answer.status, headers, body);
}
