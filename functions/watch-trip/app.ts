// A trip's state, then each change until it ends, pushed to its rider or driver over Server-Sent Events or a WebSocket.
// Both carry the same messages (shared/events/trip-feed.ts: TripUpdate), one JSON object each.
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { WebSocket } from "ws";
import type { TripFeed, TripWatch, WatchSink } from "../../shared/events/trip-feed";
import { requireRoleOrQueryToken, type AuthEnv } from "../../shared/http/auth";
import { ApiError, tripNotFound } from "../../shared/http/errors";
import type { WebSocketEnv } from "../../shared/http/websocket";

export interface WatchTripDeps {
  feed: TripFeed;
  jwtSecret: string;
  /** How often an idle connection carries a heartbeat, so that proxies on the way keep it open. */
  heartbeatMs: number;
}

type Env = AuthEnv & WebSocketEnv;

export function watchTripApp({ feed, jwtSecret, heartbeatMs }: WatchTripDeps) {
  const auth = requireRoleOrQueryToken(jwtSecret, "rider", "driver");

  // Someone else's trip answers exactly like a missing one, as in get-trip.
  async function open(c: Context<Env>): Promise<TripWatch> {
    const id = c.req.param("id")!;
    const watch = await feed.open(id, c.get("principal"));
    if (!watch) throw tripNotFound(id);
    return watch;
  }

  return new Hono<Env>()
    .get("/v1/trips/:id/events", auth, async (c) => {
      const watch = await open(c);
      // Tells a buffering proxy (nginx and its kin) to pass each event on as it comes.
      c.header("X-Accel-Buffering", "no");
      return streamSSE(
        c,
        (stream) =>
          new Promise<void>((done) => {
            // One write after another, and the stream closed after the last: writeSSE is asynchronous, and a terminal
            // state's update is followed at once by the end.
            let written = Promise.resolve();
            const write = (text: string) => (written = written.then(() => stream.write(text).then(() => undefined)));
            const heartbeat = setInterval(() => void write(": heartbeat\n\n"), heartbeatMs);
            const stop = () => {
              clearInterval(heartbeat);
              void written.then(done);
            };
            stream.onAbort(() => {
              watch.close();
              stop();
            });
            watch.start({ send: (update) => void write(`data: ${JSON.stringify(update)}\n\n`), end: stop });
          }),
      );
    })
    .get("/v1/trips/:id/ws", auth, async (c) => {
      const handshake = (c.env as WebSocketEnv["Bindings"] | undefined)?.webSocket;
      if (!handshake) {
        c.header("Upgrade", "websocket");
        throw new ApiError(426, "upgrade_required", `This is a WebSocket; the same stream is at ${c.req.path.replace(/\/ws$/, "/events")}`);
      }
      const watch = await open(c);
      handshake.accept({ open: (ws) => streamOverWebSocket(ws, watch, heartbeatMs), abort: () => watch.close() });
      return c.body(null, 200);
    });
}

function streamOverWebSocket(ws: WebSocket, watch: TripWatch, heartbeatMs: number): void {
  // A client that did not answer the last ping is gone without a close (its network dropped): cut it.
  let answered = true;
  const heartbeat = setInterval(() => {
    if (!answered) return ws.terminate();
    answered = false;
    ws.ping();
  }, heartbeatMs);
  ws.on("pong", () => (answered = true));
  ws.on("error", () => ws.terminate());
  ws.on("close", () => {
    clearInterval(heartbeat);
    watch.close();
  });
  const sink: WatchSink = {
    send: (update) => ws.send(JSON.stringify(update)),
    // 1001 "going away" tells the client to reconnect (to another pod); 1000 that the trip is over for it.
    end: (reason) => ws.close(reason === "closing" ? 1001 : 1000, reason),
  };
  watch.start(sink);
}
