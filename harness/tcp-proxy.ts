// A TCP relay in front of a real server. Cutting it is how a test takes a dependency away from a
// function (and gives it back) without stopping the server the rest of the machine uses; stalling it
// is how a test makes the dependency go silent instead, as a hung server or a network dropping packets;
// arming it to hang up at a client's first request is how a test hits the moment right after a handshake.
import { createServer, connect, type Server, type Socket } from "node:net";
import { isFree } from "./processes";
import { PORT_OFFSET } from "./port-offset";

// Below the kernel's ephemeral range (32768 and up here): while a proxy is cut its port is unbound, and a port from
// that range can meanwhile become the local end of any outgoing connection on the machine (the function's own
// reconnect to the proxy included, which then connects to itself), so that the proxy cannot open again.
const STABLE_PORTS = { from: 12_000, to: 20_000 };
// Nor may another proxy take the port in that time. Within a suite a cut proxy's port stays held; each suite
// (UITGO_PORT_OFFSET, in thousands) draws from a thousand ports of its own, so two suites side by side never
// pick the same one.
const SUITE_PORTS = 1_000;
const held = new Set<number>();

function suitePorts(): { from: number; to: number } {
  const slices = (STABLE_PORTS.to - STABLE_PORTS.from) / SUITE_PORTS;
  const slice = ((Math.round(PORT_OFFSET / 1_000) % slices) + slices) % slices;
  const from = STABLE_PORTS.from + slice * SUITE_PORTS;
  return { from, to: from + SUITE_PORTS };
}

interface Relay {
  client: Socket;
  upstream: Socket;
}

export class TcpProxy {
  private server?: Server;
  private readonly relays = new Set<Relay>();
  private stalled = false;
  private armedHangUp: number | undefined;
  /** How many times an armed hang-up has cut the proxy. */
  hangUps = 0;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** A proxy on a free port of its own, outside the ephemeral range, already open. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const { from, to } = suitePorts();
    for (;;) {
      const port = from + Math.floor(Math.random() * (to - from));
      if (held.has(port) || !(await isFree(port))) continue;
      held.add(port);
      const proxy = new TcpProxy(port, target);
      await proxy.open();
      return proxy;
    }
  }

  /** Accepts connections again; a proxy already open stays as it is. */
  async open(): Promise<void> {
    if (this.server) return;
    this.server = createServer((client) => {
      const relay = { client, upstream: connect(this.target.port, this.target.host) };
      this.relays.add(relay);
      if (this.armedHangUp !== undefined) this.watchForHangUp(client, this.armedHangUp);
      // A relay stays known until both its sockets have closed, so that cut() can always destroy what is left of it
      // (a socket left open keeps the server's close, and so cut(), waiting).
      let open = 2;
      for (const socket of [relay.client, relay.upstream]) {
        socket.on("close", () => {
          if (--open === 0) this.relays.delete(relay);
        });
        socket.on("error", () => {
          relay.client.destroy();
          relay.upstream.destroy();
        });
      }
      if (!this.stalled) pipe(relay);
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
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

  /**
   * The next connection is carried until its client writes for the `nth` time; that write is not passed on, and the
   * proxy then cuts everything, as a server crashing at that moment would. A PostgreSQL client on trust auth writes
   * its start-up message first and its first query second, so `hangUpAt(2)` drops it right after the handshake.
   */
  hangUpAt(nth: number): void {
    this.armedHangUp = nth;
  }

  private watchForHangUp(client: Socket, nth: number): void {
    this.armedHangUp = undefined;
    let writes = 0;
    const onData = () => {
      if (++writes < nth) return;
      client.off("data", onData);
      client.pause();
      this.hangUps++;
      void this.cut();
    };
    // Registered before the pipe, so the cut comes before the write is relayed.
    client.prependListener("data", onData);
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
