// A NATS server of the test's own, with JetStream on a store directory that survives its restarts, so a
// test can kill the broker under running functions without touching the server the rest of the machine uses.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { findBinary } from "../local/provision";
import { ensureJetStream } from "../shared/events/definitions";
import { freePort, waitFor } from "./processes";

export const natsServerBinary = findBinary("nats-server");

export class NatsServer {
  private child?: ChildProcess;
  private exit?: Promise<void>;

  private constructor(
    readonly port: number,
    private readonly storeDir: string,
  ) {}

  /** Starts a server on a free port with the product's streams and consumers. */
  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), mkdtempSync(join(tmpdir(), "uitgo-nats-")));
    await server.restart();
    const nc = await connect({ servers: server.url });
    await ensureJetStream(await jetstreamManager(nc));
    await nc.close();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server again on the same port and store, and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (!natsServerBinary) throw new Error("nats-server is not installed");
    const child = spawn(natsServerBinary, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], { stdio: "ignore" });
    this.child = child;
    this.exit = new Promise((resolve) => child.once("exit", () => resolve()));
    await waitFor(() => accepts(this.port), 10_000, `nats-server on port ${this.port}`);
  }

  /** Kills the server the way a crash would, and waits until it is gone. */
  async kill(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.exit;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
