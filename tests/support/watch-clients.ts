// Clients of watch-trip's two streams, as a browser or an app would open them: an EventSource-like reader of
// Server-Sent Events over fetch, and a WebSocket (the `ws` package, Node 20 has no global WebSocket).
import { WebSocket } from "ws";
import type { TripUpdate } from "../../shared/events/trip-feed";

/** A message with the time it arrived (Date.now()), to measure how long the push took. */
export interface Received {
  update: TripUpdate;
  arrivedAt: number;
}

/** Messages in arrival order, awaited one at a time. */
class Inbox {
  private readonly queue: Received[] = [];
  private readonly waiters: ((received: Received) => void)[] = [];
  readonly all: Received[] = [];

  push(update: TripUpdate): void {
    const received = { update, arrivedAt: Date.now() };
    this.all.push(received);
    const waiter = this.waiters.shift();
    if (waiter) waiter(received);
    else this.queue.push(received);
  }

  next(timeoutMs = 5_000): Promise<Received> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (received: Received) => {
        clearTimeout(timer);
        resolve(received);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next message's update. */
  async update(timeoutMs?: number): Promise<TripUpdate> {
    return (await this.next(timeoutMs)).update;
  }
}

export interface SseWatcher {
  inbox: Inbox;
  /** Comment lines seen (heartbeats). */
  comments: number;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens the event stream; an answer that is not a stream comes back as a Refusal. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseWatcher | Refusal> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
  if (res.status !== 200 || !res.body) return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  const inbox = new Inbox();
  const watcher: SseWatcher = { inbox, comments: 0, ended: Promise.resolve(), close: () => abort.abort() };
  watcher.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(":")) watcher.comments++;
          const data = block
            .split("\n")
            .filter((line) => line.startsWith("data: "))
            .map((line) => line.slice(6))
            .join("\n");
          if (data) inbox.push(JSON.parse(data) as TripUpdate);
        }
      }
    } catch {
      // Aborted by close().
    }
  })();
  return watcher;
}

export interface WsWatcher {
  inbox: Inbox;
  pings: number;
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
}

export interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Opens the WebSocket; a refused handshake comes back as the HTTP answer that refused it. */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<WsWatcher | Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers });
    const inbox = new Inbox();
    const watcher: WsWatcher = {
      inbox,
      pings: 0,
      ws,
      closed: new Promise((done) => ws.once("close", (code, reason) => done({ code, reason: reason.toString() }))),
    };
    ws.on("message", (data) => inbox.push(JSON.parse(String(data)) as TripUpdate));
    ws.on("ping", () => watcher.pings++);
    ws.once("open", () => resolve(watcher));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once("error", (err) => reject(err));
  });
}

export function isRefusal(value: SseWatcher | WsWatcher | Refusal): value is Refusal {
  return "status" in value;
}
