// Crash safety: riders book, or drivers report, continuously while one part of the system dies and comes back, or
// a store refuses connections (cut) or goes silent (stall) for a few seconds. Afterwards every trip answered 201
// must be assigned or no_driver (a trip whose event was dead-lettered is settled as no_driver), none lost, none
// assigned twice, no driver on two trips, no driver left claimed; every location update answered 202 is in the
// history; every other answer is 503 with Retry-After; the service answers again within RESUME_MS of the store's
// return; and no process dies on its own: the test fails the moment one does, naming it and showing its log.
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
import { NatsServer, natsServerBinary } from "../harness/nats-server";
import { HCMC, randomPointNear, seededRandom, tripRequest } from "../harness/places";
import { waitFor } from "../harness/processes";
import { resetState, shardSql } from "../harness/state";
import { HistoryTables } from "./support/location-history";
import { ProcessWatch, testLogDir } from "./support/process-watch";
import { storedEvents } from "../harness/streams";
import { TcpProxy } from "../harness/tcp-proxy";
import { TEST_ENV, TEST_PORT_OFFSET } from "./support/test-env";

const DRIVERS = 60;
const BOOKINGS_PER_SECOND = 40;
const BOOKING_MS = 5_000;
/** Booking goes on at least this long after the fault is over, so every scenario books through recovery. */
const AFTER_RECOVERY_MS = 2_000;
const FAULT_AFTER_MS = 1_500;
/** A burst sent right before the fault, so that requests and deliveries are in flight when it strikes. */
const BURST = 30;
/** How long a store stays cut or silent. */
const OUTAGE_MS = 3_000;
/** The service must answer a request sent after the store is back within this long of its return. */
const RESUME_MS = 2_000;
type Load = "booking" | "location";

/** What a scenario needs accepted to mean something: more trips than drivers, and updates beyond the burst. */
const minAccepted: Record<Load, number> = { booking: DRIVERS + BURST, location: 2 * BURST };
/** The longest the load goes on after AFTER_RECOVERY_MS to reach minAccepted. */
const ENOUGH_WITHIN_MS = 15_000;
/** Drivers reporting in the location scenarios; each reports every LOCATION_DRIVERS / BOOKINGS_PER_SECOND s. */
const LOCATION_DRIVERS = 200;

// Only what makes the test finish in seconds differs from production: trips that find nobody give up
// after 2 s instead of 60 s, and a delivery lost with a killed source comes back after 3 s instead of 30 s.
const STACK_ENV = { MATCH_DEADLINE_MS: "2000", SINK_TIMEOUT_MS: "2500", DRIVER_FRESH_MS: "600000" };
const FAST_REDELIVERY = { ack_wait: seconds(3) };

const config = loadConfig();
let stack: Stack | undefined;
let cleanups: (() => Promise<unknown>)[] = [];
let watch = new ProcessWatch();

beforeEach(async () => {
  watch = new ProcessWatch();
  await resetState();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  watch.check();
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
    await drivers.update("vn", {
      driverId: `driver-${i}`,
      ...randomPointNear(HCMC, 2000, random),
      status: "available",
      recordedAt: Date.now(),
    });
  }
  await redis.quit();

  stack = await startStack({
    basePort: 29080 + TEST_PORT_OFFSET,
    build: false,
    logDir: testLogDir(),
    env: { ...STACK_ENV, ...env },
    onUnexpectedExit: (name, how, logTail) => watch.exited(name, how, logTail),
  });
  return { stack, natsUrl };
}

type Store = "postgres" | "redis" | "nats";

/** A relay in front of the store, and the environment that points every process of a stack at it. */
async function relayed(store: Store): Promise<{ proxy: TcpProxy; env: Record<string, string> }> {
  const url = store === "postgres" ? TEST_ENV.DATABASE_URL_VN : store === "redis" ? TEST_ENV.REDIS_URL : TEST_ENV.NATS_URL;
  const proxy = await TcpProxy.start({ host: "127.0.0.1", port: Number(new URL(url).port) });
  cleanups.push(() => proxy.cut());
  const through = (target: string) => {
    const moved = new URL(target);
    moved.port = String(proxy.port);
    return moved.toString();
  };
  const env: Record<string, string> =
    store === "postgres"
      ? { DATABASE_URL_VN: through(TEST_ENV.DATABASE_URL_VN), DATABASE_URL_TH: through(TEST_ENV.DATABASE_URL_TH) }
      : store === "redis"
        ? { REDIS_URL: through(TEST_ENV.REDIS_URL) }
        : { NATS_URL: through(TEST_ENV.NATS_URL) };
  return { proxy, env };
}

/** The store refuses connections (and drops the open ones) for OUTAGE_MS, as a crashed server would. */
async function cutFor(proxy: TcpProxy): Promise<void> {
  await proxy.cut();
  await pause(OUTAGE_MS);
  await proxy.open();
}

/** The store keeps every connection open but answers nothing for OUTAGE_MS, as a hung server or a lossy network. */
async function stallFor(proxy: TcpProxy): Promise<void> {
  proxy.stall();
  await pause(OUTAGE_MS);
  proxy.resume();
}

interface Answers {
  /** Trip ids answered 201, or location updates answered 202 (`driver@recordedAt`). */
  accepted: string[];
  /** Answered 503 with Retry-After: the client is asked to try again. */
  refused: number;
  /** The refusals by error code and message, to tell which store or limit refused them. */
  refusals: Record<string, number>;
  /** Any other answer, or none: each is a failure of the test. */
  unexpected: string[];
  /** From the fault's end to the first acceptance of a request sent after it, in ms. */
  resumedMs?: number;
}

/** One request of the load; resolves to what to count as accepted (a trip id or an update's key), or to the answer. */
type Send = (n: number) => Promise<{ key?: string; response: Response; body: unknown }>;

function booking(stack: Stack): Send {
  return async (n) => {
    const response = await fetch(`${stack.gatewayUrl}/v1/trips`, {
      method: "POST",
      headers: { ...bearer("rider", `rider-${n}`), "content-type": "application/json" },
      body: JSON.stringify(tripRequest(HCMC)),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json()) as { id?: string };
    return { response, body, ...(response.status === 201 && body.id && { key: body.id }) };
  };
}

function reporting(stack: Stack): Send {
  const random = seededRandom(11);
  return async (n) => {
    const driverId = `reporter-${n % LOCATION_DRIVERS}`;
    const recordedAt = Date.now();
    const response = await fetch(`${stack.gatewayUrl}/v1/drivers/me/location`, {
      method: "POST",
      headers: { ...bearer("driver", driverId), "content-type": "application/json" },
      body: JSON.stringify({ ...randomPointNear(HCMC, 2000, random), recordedAt: new Date(recordedAt).toISOString() }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = response.status === 202 ? null : await response.json();
    return { response, body, ...(response.status === 202 && { key: `${driverId}@${recordedAt}` }) };
  };
}

/**
 * Sends the load at a steady rate for BOOKING_MS, and for AFTER_RECOVERY_MS at least once `fault` has returned;
 * `fault` runs after FAULT_AFTER_MS, right after a burst.
 */
async function loadThrough(stack: Stack, load: Load, fault: () => Promise<void>): Promise<Answers> {
  const send = load === "booking" ? booking(stack) : reporting(stack);
  const answers: Answers = { accepted: [], refused: 0, refusals: {}, unexpected: [] };
  const pending: Promise<void>[] = [];
  let recoveredAt: number | undefined;
  let n = 0;
  const request = () => {
    const sentAfterRecovery = recoveredAt !== undefined;
    pending.push(
      send(n++)
        .then(({ key, response, body }) => {
          if (key) {
            answers.accepted.push(key);
            if (sentAfterRecovery) answers.resumedMs ??= performance.now() - recoveredAt!;
          } else if (response.status === 503 && response.headers.has("retry-after")) {
            answers.refused++;
            const code = (body as { error?: { code?: string; message?: string } } | null)?.error;
            const why = `${code?.code}: ${code?.message}`;
            answers.refusals[why] = (answers.refusals[why] ?? 0) + 1;
          } else answers.unexpected.push(`${response.status} ${JSON.stringify(body)}`);
        })
        .catch((err: unknown) => {
          answers.unexpected.push(String(err));
        }),
    );
  };

  // Paced by the clock, not by the timer's ticks: a busy machine fires the timer late, and the load must not drop with it.
  const started = performance.now();
  let paced = 0;
  const steady = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * BOOKINGS_PER_SECOND);
    for (; paced < due; paced++) request();
  }, 1000 / BOOKINGS_PER_SECOND);
  const struck = (async () => {
    await pause(FAULT_AFTER_MS);
    for (let i = 0; i < BURST; i++) request();
    await pause(20);
    await fault();
    recoveredAt = performance.now();
  })();
  // Enough must be accepted for the scenario to mean something (more trips than drivers, say) however much a busy
  // machine sheds: the load goes on past AFTER_RECOVERY_MS until it is, for at most ENOUGH_WITHIN_MS.
  const enough = async () => {
    const until = performance.now() + ENOUGH_WITHIN_MS;
    while (answers.accepted.length < minAccepted[load] && performance.now() < until) await pause(100);
  };
  try {
    await watch.guard(Promise.all([pause(BOOKING_MS), struck.then(() => pause(AFTER_RECOVERY_MS)).then(enough)]));
  } finally {
    clearInterval(steady);
  }
  await watch.guard(Promise.all(pending));
  return answers;
}

/** Every answer was an acceptance or a 503 with Retry-After, and acceptance came back quickly after the fault. */
function expectAnswered(name: string, answers: Answers): void {
  const { accepted, refused, refusals, resumedMs } = answers;
  console.log(
    `${name}, answers: ${JSON.stringify({ accepted: accepted.length, refused, refusals, resumed_ms: resumedMs && Math.round(resumedMs) })}`,
  );
  expect(answers.unexpected).toEqual([]);
  expect(answers.resumedMs, "no request sent after the fault was accepted").toBeDefined();
  expect(answers.resumedMs!).toBeLessThan(RESUME_MS);
}

/** SIGKILL, as a crashed pod; Knative would start a new one, which the test does itself a second later. */
async function killForASecond(stack: Stack, name: string): Promise<void> {
  stack.kill(name);
  await stack.exited(name);
  await pause(1_000);
  await stack.start(name);
}

/** What a trip still being matched is waiting for: its row, and what the assign-driver consumer holds. */
/** Where assign-driver gives up on a trip event. */
const MATCHING_DEAD_LETTERS = deadLetterSubject("TRIPS", "assign-driver");

async function matchingState(sql: ReturnType<typeof shardSql>, nc: NatsConnection, tripIds: string[]): Promise<string> {
  const waiting =
    await sql`select id, status, created_at from trips where id = any(${tripIds}) and status = 'requested' order by created_at`;
  const info = await (await jetstreamManager(nc)).consumers.info("TRIPS", "assign-driver");
  const { num_pending, num_ack_pending, num_redelivered, num_waiting, delivered, ack_floor } = info;
  const { ack_wait, backoff, max_deliver } = info.config;
  // Whether each one's event was ever stored, and whether it gave up into the dead letters.
  const requested = new Set((await storedEvents<TripEvent>(nc, "TRIPS", "trips.requested.vn")).map(({ trip }) => trip.id));
  const deadLettered = await storedEvents<unknown>(nc, "DEAD_LETTERS", MATCHING_DEAD_LETTERS);
  const trips = waiting.slice(0, 5).map((row) => ({ ...row, eventStored: requested.has(row.id as string) }));
  return `${waiting.length} still requested (first: ${JSON.stringify(trips)}); ${deadLettered.length} dead-lettered; assign-driver consumer: ${JSON.stringify({ num_pending, num_ack_pending, num_redelivered, num_waiting, delivered, ack_floor, ack_wait, backoff, max_deliver })}`;
}

/** Waits until no accepted trip is still being matched, then checks every invariant and returns the counts. */
async function verify(name: string, booking: Answers, natsUrl: string) {
  const sql = shardSql("vn");
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const redis: Redis = await connectedRedis();
  try {
    expectAnswered(name, booking);
    expect(booking.accepted.length).toBeGreaterThanOrEqual(minAccepted.booking);

    type Row = { id: string; status: string; driver_id: string | null };
    const rows = await watch.guard(
      waitFor(
        async () => {
          const found = await sql<Row[]>`select id, status, driver_id from trips where id = any(${booking.accepted})`;
          return found.every((row) => row.status !== "requested") && found;
        },
        45_000,
        `every trip booked in "${name}" to leave requested`,
      ).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; ${await matchingState(sql, nc, booking.accepted)}`);
      }),
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
    const deadLettered =
      (await jsm.streams.info("DEAD_LETTERS", { subjects_filter: MATCHING_DEAD_LETTERS })).state.subjects?.[MATCHING_DEAD_LETTERS] ?? 0;
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

/** Waits until the history holds every update answered 202, then returns the counts. */
async function verifyReports(name: string, answers: Answers, history: HistoryTables) {
  expectAnswered(name, answers);
  expect(answers.accepted.length).toBeGreaterThanOrEqual(minAccepted.location);
  const missing = await watch.guard(
    waitFor(
      async () => {
        const stored = new Set((await history.rows("vn")).map((row) => `${row.driver_id}@${row.recorded_at.getTime()}`));
        const lost = answers.accepted.filter((key) => !stored.has(key));
        return lost.length === 0 && lost;
      },
      45_000,
      `every update accepted in "${name}" to reach the history`,
    ),
  );
  expect(missing).toEqual([]);
  return { accepted: answers.accepted.length, refused: answers.refused };
}

describe("trips booked while a part of the system dies", () => {
  it("assign-driver killed mid-request", async () => {
    const { stack, natsUrl } = await startScenario();
    const booking = await loadThrough(stack, "booking", () => killForASecond(stack, "assign-driver"));
    await verify("assign-driver killed", booking, natsUrl);
  });

  it("the JetStream source killed mid-delivery", async () => {
    const { stack, natsUrl } = await startScenario();
    const booking = await loadThrough(stack, "booking", () => killForASecond(stack, "source-assign-driver"));
    await verify("source killed", booking, natsUrl);
  });

  it.skipIf(!natsServerBinary)("NATS restarted", async () => {
    const nats = await NatsServer.start();
    cleanups.push(() => nats.stop());
    const { stack, natsUrl } = await startScenario({ NATS_URL: nats.url });
    const booking = await loadThrough(stack, "booking", async () => {
      await nats.kill();
      await pause(1_000);
      await nats.restart();
    });
    const counts = await verify("NATS restarted", booking, natsUrl);
    // Bookings while NATS was down were refused (503), not accepted and lost.
    expect(counts.refused).toBeGreaterThan(0);
  });
});

// Which stores a request waits on: a fault there must refuse some requests, proof that it struck. The others are
// behind the stream (matching, the history) or fail open (the rate limiter), and must only delay the work.
const ON_THE_REQUEST_PATH: Record<Load, readonly Store[]> = { booking: ["postgres", "nats"], location: ["redis", "nats"] };

describe.each(["booking", "location"] as const)("%s while a store fails", (load) => {
  it.each(["postgres", "redis", "nats"] as const)("%s refusing connections for a few seconds", async (store) => {
    const { proxy, env } = await relayed(store);
    const { stack, natsUrl } = await startScenario(env);
    await struckBy(load, stack, natsUrl, `${load}, ${store} cut`, store, () => cutFor(proxy));
  });

  it.each(["postgres", "redis", "nats"] as const)("%s silent for a few seconds", async (store) => {
    const { proxy, env } = await relayed(store);
    // Short timeouts (PostgreSQL's deadline 1.5 s), so that the silence outlasts them and requests are refused.
    const { stack, natsUrl } = await startScenario({ ...env, DEPENDENCY_TIMEOUT_MS: "500" });
    await struckBy(load, stack, natsUrl, `${load}, ${store} silent`, store, () => stallFor(proxy));
  });
});

async function struckBy(load: Load, stack: Stack, natsUrl: string, name: string, store: Store, fault: () => Promise<void>): Promise<void> {
  const history = new HistoryTables();
  try {
    if (load === "location") await history.clear();
    const answers = await loadThrough(stack, load, fault);
    const counts = load === "booking" ? await verify(name, answers, natsUrl) : await verifyReports(name, answers, history);
    if (ON_THE_REQUEST_PATH[load].includes(store)) expect(counts.refused, "requests refused during the fault").toBeGreaterThan(0);
  } finally {
    await history.close();
  }
}
