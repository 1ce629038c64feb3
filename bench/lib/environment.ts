// Where the bench runs, away from a developer's data: its own shard databases, its own Redis database,
// its own ports, and its own nats-server (JetStream streams are per server, and the bench purges them).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "../../harness/processes";
import { connect } from "node:net";

export interface BenchEnvironment {
  /** Given to every process of the run (and applied to this one, which provisions from it). */
  env: Record<string, string>;
  natsUrl: string;
  /** The bench's own nats-server, when it started one. */
  natsPid?: number;
  /** Where the local entry point listens; the functions take the ports after it. */
  basePort: number;
  /** How the NATS server was chosen, for the report. */
  natsNote: string;
  stop(): Promise<void>;
}

/** Where a bench run keeps its data: the settings every process of the run is given. */
export function storeEnv(natsUrl: string): Record<string, string> {
  const dbPrefix = process.env.UITGO_BENCH_DB_PREFIX ?? "uitgo_bench";
  return {
    NATS_URL: natsUrl,
    REDIS_URL: process.env.UITGO_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/14",
    DATABASE_URL_VN: `postgres://postgres@127.0.0.1:5432/${dbPrefix}_vn`,
    DATABASE_URL_TH: `postgres://postgres@127.0.0.1:5432/${dbPrefix}_th`,
    JWT_SECRET: "uitgo-bench-secret",
    // The seeded city must stay available for the whole run; freshness is checked all the same, so search
    // and matching do the same work as with 30 s.
    DRIVER_FRESH_MS: String(3_600_000),
    // A trip with nobody in reach settles quickly instead of being retried for a minute.
    MATCH_DEADLINE_MS: String(3_000),
    // Each of the bench's riders and drivers books or reports thousands of times a minute, and its bookings stay
    // requested: limits no scenario reaches, so their checks are measured with their work done and nothing refused.
    // Set to 0 in the environment (limits off) for the other half of an A/B.
    MAX_ACTIVE_TRIPS_PER_RIDER: process.env.MAX_ACTIVE_TRIPS_PER_RIDER ?? String(1_000_000_000),
    BOOKING_RATE_LIMIT: process.env.BOOKING_RATE_LIMIT ?? String(1_000_000_000),
    LOCATION_RATE_LIMIT: process.env.LOCATION_RATE_LIMIT ?? String(1_000_000_000),
  };
}

/** A function started on its own (to profile it, or to compare two builds) only needs its stores to answer. */
export function standaloneEnv(): Record<string, string> {
  return storeEnv(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
}

export async function benchEnvironment(log: (line: string) => void): Promise<BenchEnvironment> {
  let natsUrl = process.env.NATS_URL;
  let nats: ChildProcess | undefined;
  let storeDir: string | undefined;
  let natsNote: string;

  if (natsUrl) {
    natsNote = `NATS_URL ${natsUrl} (its streams are purged between scenarios)`;
    log(`nats: using ${natsNote}`);
  } else {
    const binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find(existsSync);
    if (!binary) {
      throw new Error(
        "The bench starts a nats-server of its own and none is installed (`sudo apt-get install nats-server`). " +
          "Or set NATS_URL to a server whose JetStream streams the bench may purge.",
      );
    }
    const port = await freePort();
    storeDir = mkdtempSync(join(tmpdir(), "uitgo-bench-nats-"));
    nats = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: "ignore" });
    natsUrl = `nats://127.0.0.1:${port}`;
    await waitFor(() => listening(port), 10_000, `nats-server on port ${port}`);
    natsNote = `its own nats-server on ${natsUrl}`;
    log(`nats: started ${natsNote}`);
  }

  const env = storeEnv(natsUrl);
  Object.assign(process.env, env);

  return {
    env,
    natsUrl,
    basePort: Number(process.env.UITGO_BENCH_PORT ?? 18_080),
    natsNote,
    ...(nats?.pid && { natsPid: nats.pid }),
    async stop() {
      if (!nats) return;
      const exited = new Promise((resolve) => nats!.once("exit", resolve));
      nats.kill("SIGTERM");
      await exited;
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
