import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../shared/config";
import type { TripUpdate } from "../../shared/events/trip-feed";
import type { Principal } from "../../shared/principal";
import type { TripAction } from "../../shared/trips/state-machine";
import type { Trip } from "../../shared/trips/trip";
import { newTripId } from "../../shared/trips/trip-id";
import { NatsServer, natsServerBinary } from "../../harness/nats-server";
import { waitFor } from "../../harness/processes";
import { resetState } from "../../harness/state";
import { bearer, token } from "../../tests/support/auth";
import { isRefusal, openSse, openWs, type Refusal, type SseWatcher, type WsWatcher } from "../../tests/support/watch-clients";
import { act as actOn, assign as assignTrip, book as bookTrip, startWatchTrip, type Running } from "../../tests/support/watch-function";

const RIDER = "rider-watch-1";
const DRIVER = "driver-watch-1";
const rider: Principal = { role: "rider", id: RIDER };
const driver: Principal = { role: "driver", id: DRIVER };
const HEARTBEAT_MS = 150;

let fn: Running;
beforeAll(async () => {
  fn = await start();
});
afterAll(() => fn.close());
beforeEach(resetState);

const book = (on: Running = fn, riderId = RIDER) => bookTrip(on, riderId);
const assign = (trip: Trip, driverId = DRIVER, on: Running = fn) => assignTrip(on, trip, driverId);
const act = (trip: Trip, action: TripAction, actor: Principal, on: Running = fn) => actOn(on, trip, action, actor);
const start = (overrides: Partial<Config> = {}) => startWatchTrip({ watchHeartbeatMs: HEARTBEAT_MS, ...overrides });

const sse = (id: string, headers = bearer("rider", RIDER), on: Running = fn) => openSse(`${on.url}/v1/trips/${id}/events`, headers);
const ws = (id: string, query = `?token=${token("rider", RIDER)}`, headers: Record<string, string> = {}, on: Running = fn) =>
  openWs(`${on.url}/v1/trips/${id}/ws${query}`, headers);

async function watching<T extends SseWatcher | WsWatcher>(opened: Promise<T | Refusal>): Promise<T> {
  const watcher = await opened;
  if (isRefusal(watcher)) throw new Error(`refused ${watcher.status}: ${watcher.body}`);
  return watcher;
}

async function refused(opened: Promise<SseWatcher | WsWatcher | Refusal>): Promise<Refusal & { error: { code: string; message: string } }> {
  const answer = await opened;
  if (!isRefusal(answer)) throw new Error("the watch was opened");
  return { ...answer, ...(JSON.parse(answer.body) as { error: { code: string; message: string } }) };
}

function summary(update: TripUpdate) {
  return { type: update.type, status: update.status, driverId: update.trip.driverId };
}

/** Drives a trip from booking to completion while it is watched, and says what each watcher must have seen. */
async function fullLifecycle(trip: Trip, on: Running = fn) {
  await assign(trip, DRIVER, on);
  await act(trip, "accept", driver, on);
  await act(trip, "start", driver, on);
  await act(trip, "complete", driver, on);
  return [
    { type: "snapshot", status: "requested", driverId: undefined },
    { type: "assigned", status: "assigned", driverId: DRIVER },
    { type: "accepted", status: "accepted", driverId: DRIVER },
    { type: "started", status: "in_ride", driverId: DRIVER },
    { type: "completed", status: "completed", driverId: DRIVER },
  ];
}

async function updates(watcher: SseWatcher | WsWatcher, count: number): Promise<TripUpdate[]> {
  const seen: TripUpdate[] = [];
  for (let i = 0; i < count; i++) seen.push(await watcher.inbox.update());
  return seen;
}

describe("GET /v1/trips/:id/events (Server-Sent Events)", () => {
  it("sends the trip as it stands at once, in the documented shape", async () => {
    const trip = await book();

    const watcher = await watching(sse(trip.id));
    const first = await watcher.inbox.update();

    expect(first).toEqual({ type: "snapshot", status: "requested", trip, timestamp: trip.updatedAt });
    watcher.close();
  });

  it("then every change of a full lifecycle in order, and ends after the terminal state", async () => {
    const trip = await book();
    const watcher = await watching(sse(trip.id));
    await watcher.inbox.next();

    const expected = await fullLifecycle(trip);

    const seen = await updates(watcher, 4);
    expect([{ type: "snapshot", status: "requested", driverId: undefined }, ...seen.map(summary)]).toEqual(expected);
    expect(seen.at(-1)!.trip).toEqual(await fn.trips.get(trip.id));
    for (const update of seen) expect(Date.parse(update.timestamp)).toBeGreaterThan(Date.now() - 10_000);
    await watcher.ended;
  });

  it("ends after a cancel, and after no_driver", async () => {
    const cancelled = await book();
    const onCancel = await watching(sse(cancelled.id));
    await onCancel.inbox.next();
    await act(cancelled, "cancel", rider);
    expect(summary(await onCancel.inbox.update())).toEqual({ type: "cancelled", status: "cancelled", driverId: undefined });
    await onCancel.ended;

    const unmatched = await book();
    const onNoDriver = await watching(sse(unmatched.id));
    await onNoDriver.inbox.next();
    const ended = (await fn.trips.markNoDriver(unmatched.id))!;
    await fn.publish.publish("unassigned", ended);
    expect(summary(await onNoDriver.inbox.update())).toEqual({ type: "unassigned", status: "no_driver", driverId: undefined });
    await onNoDriver.ended;
  });

  it("sends a trip that is already over and ends at once", async () => {
    const trip = await book();
    await act(trip, "cancel", rider);

    const watcher = await watching(sse(trip.id));

    expect(summary(await watcher.inbox.update())).toEqual({ type: "snapshot", status: "cancelled", driverId: undefined });
    await watcher.ended;
  });

  it("lets the assigned driver watch, with the token in the query as an EventSource must", async () => {
    const trip = await book();
    await assign(trip);

    const watcher = await watching(openSse(`${fn.url}/v1/trips/${trip.id}/events?token=${token("driver", DRIVER)}`));

    expect(summary(await watcher.inbox.update())).toEqual({ type: "snapshot", status: "assigned", driverId: DRIVER });
    await act(trip, "accept", driver);
    expect((await watcher.inbox.update()).status).toBe("accepted");
    watcher.close();
  });

  it("never sends a state older than one it sent: a late or repeated event is dropped", async () => {
    const trip = await book();
    const assigned = await assign(trip);
    const watcher = await watching(sse(trip.id));
    expect((await watcher.inbox.update()).status).toBe("assigned");
    await act(trip, "accept", driver);
    expect((await watcher.inbox.update()).status).toBe("accepted");

    // The assigned event again (another occurrence, so that JetStream stores it), as a redelivery or a slow publisher would.
    await fn.publish.publish("assigned", assigned, { occurrence: "late" });
    await fn.publish.publish("requested", trip, { occurrence: "late" });
    await act(trip, "start", driver);

    expect(summary(await watcher.inbox.update())).toEqual({ type: "started", status: "in_ride", driverId: DRIVER });
    watcher.close();
  });

  it("follows a decline to the next driver, and ends the declining driver's watch", async () => {
    const trip = await book();
    await assign(trip);
    const riderWatch = await watching(sse(trip.id));
    const driverWatch = await watching(sse(trip.id, bearer("driver", DRIVER)));
    await riderWatch.inbox.next();
    await driverWatch.inbox.next();

    await act(trip, "decline", driver);
    await assign(trip, "driver-watch-2");

    expect((await updates(riderWatch, 2)).map(summary)).toEqual([
      { type: "declined", status: "requested", driverId: undefined },
      { type: "assigned", status: "assigned", driverId: "driver-watch-2" },
    ]);
    await driverWatch.ended;
    expect(driverWatch.inbox.all).toHaveLength(1);
    riderWatch.close();
  });

  it("sends heartbeat comments while nothing changes", async () => {
    const trip = await book();
    const watcher = await watching(sse(trip.id));

    await waitFor(async () => watcher.comments >= 2, HEARTBEAT_MS * 10, "two heartbeats");
    watcher.close();
  });
});

describe("GET /v1/trips/:id/ws (WebSocket)", () => {
  it("streams the same messages with the token as ?token=, and closes with 1000 after the terminal state", async () => {
    const trip = await book();
    const watcher = await watching(ws(trip.id));

    const expected = await fullLifecycle(trip);

    expect((await updates(watcher, 5)).map(summary)).toEqual(expected);
    expect(await watcher.closed).toEqual({ code: 1000, reason: "terminal" });
  });

  it("takes the token from the Authorization header too", async () => {
    const trip = await book();

    const watcher = await watching(ws(trip.id, "", bearer("rider", RIDER)));

    expect((await watcher.inbox.update()).type).toBe("snapshot");
    await act(trip, "cancel", rider);
    expect((await watcher.inbox.update()).status).toBe("cancelled");
    expect((await watcher.closed).code).toBe(1000);
  });

  it("pings an idle client", async () => {
    const trip = await book();
    const watcher = await watching(ws(trip.id));

    await waitFor(async () => watcher.pings >= 2, HEARTBEAT_MS * 10, "two pings");
    watcher.ws.close();
  });

  it("answers 426 to a plain GET", async () => {
    const trip = await book();

    const res = await fetch(`${fn.url}/v1/trips/${trip.id}/ws`, { headers: bearer("rider", RIDER) });

    expect(res.status).toBe(426);
    expect(res.headers.get("upgrade")).toBe("websocket");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("upgrade_required");
  });
});

describe("who may watch", () => {
  it("answers 404 trip_not_found, exactly as get-trip, to anyone but the rider and the assigned driver", async () => {
    const trip = await book(fn, "rider-owner");
    await assign(trip, "driver-other");
    const missing = newTripId("vn");
    const cases: [string, string, Record<string, string>][] = [
      ["another rider", trip.id, bearer("rider", RIDER)],
      ["another driver", trip.id, bearer("driver", DRIVER)],
      ["a driver whose id is the rider's", trip.id, bearer("driver", "rider-owner")],
      ["a trip that does not exist", missing, bearer("rider", RIDER)],
      ["an id that is no trip id", "vn_'or'1'='1", bearer("rider", RIDER)],
    ];
    for (const [label, id, headers] of cases) {
      for (const [kind, opened] of [
        ["sse", sse(encodeURIComponent(id), headers)],
        ["ws", ws(encodeURIComponent(id), "", headers)],
      ] as const) {
        const { status, body } = await refused(opened);
        expect(status, `${label} ${kind}`).toBe(404);
        expect(JSON.parse(body), `${label} ${kind}`).toEqual({
          error: { code: "trip_not_found", message: `No trip ${id} for this user`, details: [] },
        });
      }
    }
  });

  it("answers 401 to a missing, expired or forged token, refusing the WebSocket upgrade", async () => {
    const trip = await book();
    const forged = `${token("rider", RIDER).slice(0, -4)}AAAA`;
    const cases: [string, Record<string, string>, string][] = [
      ["no token", {}, ""],
      ["an expired token", {}, `?token=${token("rider", RIDER, -1)}`],
      ["a forged header", { authorization: `Bearer ${forged}` }, ""],
      ["a forged query token", {}, `?token=${forged}`],
    ];
    for (const [label, headers, query] of cases) {
      for (const [kind, opened] of [
        ["sse", openSse(`${fn.url}/v1/trips/${trip.id}/events${query}`, headers)],
        ["ws", ws(trip.id, query, headers)],
      ] as const) {
        const { status, error } = await refused(opened);
        expect(status, `${label} ${kind}`).toBe(401);
        expect(error.code, `${label} ${kind}`).toBe("unauthorized");
      }
    }
  });
});

describe("push latency", () => {
  function percentiles(values: number[]): { p50: number; p99: number } {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: sorted[Math.floor(sorted.length / 2)]!, p99: sorted[Math.ceil(sorted.length * 0.99) - 1]! };
  }

  it("pushes each change to a few dozen watchers within 100 ms p99 of the event reaching NATS", async () => {
    const WATCHED_TRIPS = 12;
    // When each event reached NATS, as a plain subscriber of the stream's subjects hears it.
    const observer = await connect({ servers: loadConfig().natsUrl });
    const reached = new Map<string, number>();
    observer.subscribe("trips.*.*", {
      callback: (_err, msg) => {
        const event = msg.json<{ type: string; trip: { id: string } }>();
        reached.set(`${event.trip.id} ${event.type.slice("trips.".length)}`, Date.now());
      },
    });
    await observer.flush();
    const trips = await Promise.all(Array.from({ length: WATCHED_TRIPS }, (_, i) => book(fn, `rider-latency-${i}`)));
    // Three watchers per trip, its rider's: two WebSockets (the token in the query and in the header) and an event stream.
    const watchers = (
      await Promise.all(
        trips.flatMap((trip, i) => [
          watching(ws(trip.id, `?token=${token("rider", `rider-latency-${i}`)}`)),
          watching(ws(trip.id, "", bearer("rider", `rider-latency-${i}`))),
          watching(sse(trip.id, bearer("rider", `rider-latency-${i}`))),
        ]),
      )
    ).flat();
    await Promise.all(watchers.map((watcher) => watcher.inbox.next()));

    await Promise.all(
      trips.map(async (trip, i) => {
        const driverId = `driver-latency-${i}`;
        await assign(trip, driverId);
        const asDriver: Principal = { role: "driver", id: driverId };
        for (const action of ["accept", "start", "complete"] as const) await act(trip, action, asDriver);
      }),
    );
    for (const watcher of watchers) await updates(watcher, 4);
    await observer.close();

    const pushed = watchers.flatMap((watcher) => watcher.inbox.all.slice(1));
    expect(pushed).toHaveLength(WATCHED_TRIPS * 3 * 4);
    const fromNats = percentiles(pushed.map(({ update, arrivedAt }) => arrivedAt - reached.get(`${update.trip.id} ${update.type}`)!));
    // What a client measures: from the timestamp, taken before the publish, so the publish itself is counted too.
    const fromTimestamp = percentiles(pushed.map(({ update, arrivedAt }) => arrivedAt - Date.parse(update.timestamp)));
    console.log(
      `watch-trip push latency over ${pushed.length} messages to ${watchers.length} watchers: from NATS p50 ${fromNats.p50} ms, ` +
        `p99 ${fromNats.p99} ms; from the timestamp p50 ${fromTimestamp.p50} ms, p99 ${fromTimestamp.p99} ms`,
    );
    expect(fromNats.p99).toBeLessThan(100);
  });
});

describe.skipIf(!natsServerBinary)("faults", () => {
  let nats: NatsServer;
  let own: Running;
  beforeAll(async () => {
    nats = await NatsServer.start();
    own = await start({ natsUrl: nats.url });
  });
  let natsDown = false;
  afterAll(async () => {
    // A failed restart test leaves the server down, and the function could not drain its connection.
    if (natsDown) await nats.restart();
    await own?.close();
    await nats?.stop();
  });

  it("survives a NATS restart while watching, resyncs from PostgreSQL and goes on with the next change", async () => {
    const trip = await book(own);
    const sseWatch = await watching(sse(trip.id, bearer("rider", RIDER), own));
    const wsWatch = await watching(ws(trip.id, `?token=${token("rider", RIDER)}`, {}, own));
    await sseWatch.inbox.next();
    await wsWatch.inbox.next();

    await nats.kill();
    natsDown = true;
    // While NATS is away: a new watch is refused with 503, and a change is made whose event nobody could publish.
    const unavailable = await refused(openSse(`${own.url}/v1/trips/${trip.id}/events`, bearer("rider", RIDER)));
    expect([unavailable.status, unavailable.headers["retry-after"], unavailable.error.code]).toEqual([503, "2", "service_unavailable"]);
    await own.trips.assign(trip.id, DRIVER);
    await nats.restart();
    natsDown = false;

    // The missed assignment comes as a snapshot read again after the reconnect, then the next change as usual.
    for (const watcher of [sseWatch, wsWatch]) {
      expect(summary(await watcher.inbox.update(10_000))).toEqual({ type: "snapshot", status: "assigned", driverId: DRIVER });
    }
    await waitFor(
      () =>
        act(trip, "accept", driver, own).then(
          () => true,
          () => false,
        ),
      10_000,
      "an accept once NATS is back",
    );
    for (const watcher of [sseWatch, wsWatch]) expect(summary(await watcher.inbox.update())).toMatchObject({ type: "accepted" });
    sseWatch.close();
    wsWatch.ws.close();
  });

  it("answers 503 with Retry-After when PostgreSQL does not answer", async () => {
    const unreachable = { primaryUrl: "postgres://postgres@127.0.0.1:1/uitgo_vn" };
    const down = await start({ shards: { vn: unreachable, th: unreachable }, dependencyTimeoutMs: 500 });
    try {
      const id = newTripId("vn");
      for (const opened of [sse(id, bearer("rider", RIDER), down), ws(id, `?token=${token("rider", RIDER)}`, {}, down)]) {
        const { status, headers, error } = await refused(opened);
        expect([status, headers["retry-after"], error.code]).toEqual([503, "2", "service_unavailable"]);
      }
    } finally {
      await down.close();
    }
  });

  it("ends every watch when the process drains: the event stream ends, the WebSocket closes with 1001", async () => {
    const draining = await start({ natsUrl: nats.url });
    const trip = await book(draining);
    const sseWatch = await watching(sse(trip.id, bearer("rider", RIDER), draining));
    const wsWatch = await watching(ws(trip.id, `?token=${token("rider", RIDER)}`, {}, draining));
    await sseWatch.inbox.next();
    await wsWatch.inbox.next();

    const started = Date.now();
    await draining.close();

    await sseWatch.ended;
    expect(await wsWatch.closed).toEqual({ code: 1001, reason: "closing" });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
