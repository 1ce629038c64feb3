// A NATS connection that is opened in the background and reconnects forever. While it is down,
// publishing fails at once with DependencyUnavailable rather than buffering behind the request.
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { DependencyUnavailable } from "./dependency";
import type { DependencyHandle } from "./dependency";
import type { Config } from "../config";
import { log } from "../log";

export class Nats implements DependencyHandle {
  readonly name = "nats";
  readonly connected: Promise<NatsConnection>;
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private up = false;

  constructor(
    url: string,
    clientName: string,
    private readonly timeoutMs: number,
  ) {
    this.connected = connect({
      servers: url,
      name: clientName,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: timeoutMs,
      // An async stack trace is captured for every request (each JetStream publish), whether it fails or not.
      noAsyncTraces: true,
    }).then((nc) => {
      this.nc = nc;
      this.js = jetstream(nc, { timeout: timeoutMs });
      this.up = true;
      void this.watch(nc);
      return nc;
    });
    this.connected.catch((err: unknown) => log("error", "nats connection failed", { err: String(err) }));
  }

  static connect(config: Pick<Config, "natsUrl" | "serviceName" | "dependencyTimeoutMs">): Nats {
    return new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);
  }

  /** The connection is its own handle, as TripStore's and LocationHistory's pools are theirs. */
  handles(): DependencyHandle[] {
    return [this];
  }

  /** The JetStream client, or a 503 if NATS is not connected right now. */
  jetstream(): JetStreamClient {
    if (!this.up || !this.js) throw new DependencyUnavailable("nats", "not connected");
    return this.js;
  }

  /** The connection itself (for a core subscription), or a 503 if NATS is not connected right now. */
  connection(): NatsConnection {
    if (!this.up || !this.nc) throw new DependencyUnavailable("nats", "not connected");
    return this.nc;
  }

  /**
   * Message headers with these fields. Made here, where the client is linked anyway: a module that only publishes
   * through a Nats it is given (shared/events/publish.ts) links no NATS code of its own.
   */
  headers(fields: Record<string, string>): MsgHdrs {
    const made = headers();
    for (const [name, value] of Object.entries(fields)) made.set(name, value);
    return made;
  }

  async manager(): Promise<JetStreamManager> {
    return jetstreamManager(await this.connected, { timeout: this.timeoutMs });
  }

  async ping(): Promise<void> {
    // The first probe often comes while the first connection is still being made: wait for it (the probe's
    // timeout bounds the wait) rather than answer "down" and cost the start another probe period.
    if (!this.nc) await this.connected;
    if (!this.up || !this.nc) throw new Error("nats is not connected");
    await this.nc.flush();
  }

  async close(): Promise<void> {
    const nc = this.nc;
    if (nc && !nc.isClosed()) await nc.drain();
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") this.up = false;
      if (status.type === "reconnect") this.up = true;
    }
  }
}
