// Crash safety: riders book continuously while one part of the system dies and comes back. Afterwards
// every trip answered 201 must be assigned or no_driver (a trip whose event was dead-lettered is settled
// as no_driver), none lost, none assigned twice, no driver on two trips, no driver left claimed.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../local/stack";
import { loadConfig } from "../shared/config";
import { DriverIndex } from "../shared/drivers/driver-index";
import { deadLetterSubject } from "../shared/events/dead-letter";
import { ensureJetStream } from "../shared/events/definitions";
import type { TripEvent } from "../shared/events/trip-events";
import { bearer } from "./support/auth";
import { connectedRedis } from "./support/http";
import { NatsServer, natsServerBinary } from "./support/nats-server";
import { HCMC, randomPointNear, seededRandom, tripRequest } from "./support/places";
import { freePort, waitFor } from "./support/processes";
import { resetState, shardSql } from "./support/state";
import { storedEvents } from "./support/streams";
import { TcpProxy } from "./support/tcp-proxy";
import { TEST_ENV, TEST_PORT_OFFSET } from "./support/test-env";

const DRIVERS = 60;
const BOOKINGS_PER_SECOND = 40;
const BOOKING_MS = 5_000;
/** Booking goes on at least this long after the fault is over, so every scenario books through recovery. */
const AFTER_RECOVERY_MS = 2_000;
const FAULT_AFTER_MS = 1_500;
/** A burst booked right before the fault, so that deliveries are in flight when it strikes. */
const BURST = 30;

// Only what makes the test finish in seconds differs from production: trips that find nobody give up
// after 2 s instead of 60 s, and a delivery lost with a killed source comes back after 3 s instead of 30 s.
const STACK_ENV = { MATCH_DEADLINE_MS: "2000", SINK_TIMEOUT_MS: "2500", DRIVER_FRESH_MS: "600000" };
const FAST_REDELIVERY = { ack_wait: seconds(3), backoff: [seconds(3), seconds(6)] };

const config = loadConfig();
let stack: Stack | undefined;
let cleanups: (() => Promise<unknown>)[] = [];

beforeEach(resetState);
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function seconds(s: number): number {
  return s * 1_000_000_000;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A stack on the given NATS server, with drivers around the centre of Ho Chi Minh City and quick redelivery. */
async function startScenario(env: Record<string, string> = {}): Promise<{ stack: Stack; natsUrl: string }> {
  const natsUrl = env.NATS_URL ?? TEST_ENV.NATS_URL;
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.update("TRIPS", "assign-driver", FAST_REDELIVERY);
  cleanups.push(async () => {
    await ensureJetStream(jsm).catch(() => undefined);
    await nc.close();
  });

  const redis = await connectedRedis();
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const random = seededRandom(7);
  for (let i = 0; i < DRIVERS; i++) {
    await drivers.update("vn", { driverId: `driver-${i}`, ...randomPointNear(HCMC, 2000, random), status: "available", recordedAt: Date.now() });
  }
  await redis.quit();

  stack = await startStack({ basePort: 29080 + TEST_PORT_OFFSET, build: false, logDir: ".local/test-logs", env: { ...STACK_ENV, ...env } });
  return { stack, natsUrl };
}

interface Booking {
  accepted: string[];
  /** Answered 503 with Retry-After: the rider is asked to try again. */
  refused: number;
  /** Any other answer, or none: each is a failure of the test. */
  unexpected: string[];
}

/**
 * Books at a steady rate for BOOKING_MS, and for AFTER_RECOVERY_MS at least once `fault` has returned;
 * `fault` runs after FAULT_AFTER_MS, right after a burst.
 */
async function bookThrough(stack: Stack, fault: () => Promise<void>): Promise<Booking> {
  const booking: Booking = { accepted: [], refused: 0, unexpected: [] };
  const pending: Promise<void>[] = [];
  let n = 0;
  const book = () => {
    const rider = `rider-${n++}`;
    pending.push(
      fetch(`${stack.gatewayUrl}/v1/trips`, {
        method: "POST",
        headers: { ...bearer("rider", rider), "content-type": "application/json" },
        body: JSON.stringify(tripRequest(HCMC)),
        signal: AbortSignal.timeout(15_000),
      })
        .then(async (response) => {
          const body = (await response.json()) as { id?: string };
          if (response.status === 201 && body.id) booking.accepted.push(body.id);
          else if (response.status === 503 && response.headers.has("retry-after")) booking.refused++;
          else booking.unexpected.push(`${response.status} ${JSON.stringify(body)}`);
        })
        .catch((err: unknown) => {
          booking.unexpected.push(String(err));
        }),
    );
  };

  const steady = setInterval(book, 1000 / BOOKINGS_PER_SECOND);
  const struck = (async () => {
    await pause(FAULT_AFTER_MS);
    for (let i = 0; i < BURST; i++) book();
    await pause(20);
    await fault();
  })();
  await Promise.all([pause(BOOKING_MS), struck.then(() => pause(AFTER_RECOVERY_MS))]);
  clearInterval(steady);
  await Promise.all(pending);
  return booking;
}

/** SIGKILL, as a crashed pod; Knative would start a new one, which the test does itself a second later. */
async function killForASecond(stack: Stack, name: string): Promise<void> {
  stack.kill(name);
  await stack.exited(name);
  await pause(1_000);
  await stack.start(name);
}

/** Waits until no accepted trip is still being matched, then checks every invariant and returns the counts. */
async function verify(name: string, booking: Booking, natsUrl: string) {
  const sql = shardSql("vn");
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const redis: Redis = await connectedRedis();
  try {
    expect(booking.unexpected).toEqual([]);
    expect(booking.accepted.length).toBeGreaterThan(DRIVERS);

    type Row = { id: string; status: string; driver_id: string | null };
    const rows = await waitFor(
      async () => {
        const found = await sql<Row[]>`select id, status, driver_id from trips where id = any(${booking.accepted})`;
        return found.every((row) => row.status !== "requested") && found;
      },
      45_000,
      `every trip booked in "${name}" to leave requested`,
    );

    // None lost: every trip answered 201 is in its shard, assigned or no_driver.
    expect(rows.map((row) => row.id).sort()).toEqual([...booking.accepted].sort());
    expect(rows.filter((row) => row.status !== "assigned" && row.status !== "no_driver")).toEqual([]);
    const assigned = rows.filter((row) => row.status === "assigned");

    // No driver on two trips.
    expect(new Set(assigned.map((row) => row.driver_id)).size).toBe(assigned.length);

    // None assigned twice: every trips.assigned event of a trip names the driver it has.
    const announced = new Map<string, Set<string>>();
    for (const { trip } of await storedEvents<TripEvent>(nc, "TRIPS", "trips.assigned.vn")) {
      announced.set(trip.id, (announced.get(trip.id) ?? new Set()).add(trip.driverId!));
    }
    for (const row of assigned) expect([...(announced.get(row.id) ?? [])], row.id).toEqual([row.driver_id]);

    // No driver left claimed: the geo-index's busy drivers are exactly the assigned ones, each on its trip.
    const busy = await redis.hgetall("drivers:{vn}:busy");
    expect(busy).toEqual(Object.fromEntries(assigned.map((row) => [row.driver_id!, row.id])));

    const jsm = await jetstreamManager(nc);
    const subject = deadLetterSubject("TRIPS", "assign-driver");
    const deadLettered = (await jsm.streams.info("DEAD_LETTERS", { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const counts = {
      booked: booking.accepted.length + booking.refused,
      accepted: booking.accepted.length,
      refused: booking.refused,
      assigned: assigned.length,
      no_driver: rows.length - assigned.length,
      dead_lettered: deadLettered,
    };
    console.log(`${name}: ${JSON.stringify(counts)}`);
    return counts;
  } finally {
    await Promise.all([sql.end(), nc.close(), redis.quit()]);
  }
}

describe("trips booked while a part of the system dies", () => {
  it("assign-driver killed mid-request", async () => {
    const { stack, natsUrl } = await startScenario();
    const booking = await bookThrough(stack, () => killForASecond(stack, "assign-driver"));
    await verify("assign-driver killed", booking, natsUrl);
  });

  it("the JetStream source killed mid-delivery", async () => {
    const { stack, natsUrl } = await startScenario();
    const booking = await bookThrough(stack, () => killForASecond(stack, "source-assign-driver"));
    await verify("source killed", booking, natsUrl);
  });

  it.skipIf(!natsServerBinary)("NATS restarted", async () => {
    const nats = await NatsServer.start();
    cleanups.push(() => nats.stop());
    const { stack, natsUrl } = await startScenario({ NATS_URL: nats.url });
    const booking = await bookThrough(stack, async () => {
      await nats.kill();
      await pause(1_000);
      await nats.restart();
    });
    const counts = await verify("NATS restarted", booking, natsUrl);
    // Bookings while NATS was down were refused (503), not accepted and lost.
    expect(counts.refused).toBeGreaterThan(0);
  });

  it("PostgreSQL refusing connections for a few seconds", async () => {
    const postgres = await TcpProxy.start({ host: "127.0.0.1", port: 5432 });
    cleanups.push(() => postgres.cut());
    const throughProxy = (url: string) => url.replace(":5432/", `:${postgres.port}/`);
    const { stack, natsUrl } = await startScenario({
      DATABASE_URL_VN: throughProxy(TEST_ENV.DATABASE_URL_VN),
      DATABASE_URL_TH: throughProxy(TEST_ENV.DATABASE_URL_TH),
    });
    const booking = await bookThrough(stack, async () => {
      await postgres.cut();
      await pause(3_000);
      await postgres.open();
    });
    const counts = await verify("PostgreSQL refused connections", booking, natsUrl);
    expect(counts.refused).toBeGreaterThan(0);
  });
});
