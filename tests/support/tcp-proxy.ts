// A TCP relay in front of a real server. Cutting it is how a test takes a dependency away from a
// function (and gives it back) without stopping the server the rest of the machine uses; stalling it
// is how a test makes the dependency go silent instead, as a hung server or a network dropping packets.
import { createServer, connect, type Server, type Socket } from "node:net";

interface Relay {
  client: Socket;
  upstream: Socket;
}

export class TcpProxy {
  private server?: Server;
  private readonly relays = new Set<Relay>();
  private stalled = false;

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const relay = { client, upstream: connect(this.target.port, this.target.host) };
      this.relays.add(relay);
      for (const socket of [relay.client, relay.upstream]) {
        socket.on("close", () => this.relays.delete(relay));
        socket.on("error", () => {
          relay.client.destroy();
          relay.upstream.destroy();
        });
      }
      if (!this.stalled) pipe(relay);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
  }

  /** Refuses new connections and drops the open ones, as a crashed server would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.stalled = false;
    for (const { client, upstream } of this.relays) {
      client.destroy();
      upstream.destroy();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Keeps every connection open, and accepts new ones, but carries nothing either way until `resume`. */
  stall(): void {
    this.stalled = true;
    for (const { client, upstream } of this.relays) {
      client.unpipe(upstream);
      upstream.unpipe(client);
    }
  }

  /** Carries again what was held back while stalled, and everything after it. */
  resume(): void {
    this.stalled = false;
    for (const relay of this.relays) pipe(relay);
  }
}

function pipe({ client, upstream }: Relay): void {
  client.pipe(upstream);
  upstream.pipe(client);
}
