// settle-dead-letters on the real stores: a dead-lettered trips.requested ends its trip as no_driver.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Nats } from "../../shared/clients/nats";
import { toBinary } from "../../shared/cloudevents/http-binding";
import { PING_TYPE, TRIP_DEAD_LETTER_TYPE, TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import { type DriverIndex } from "../../shared/drivers/driver-index";
import { loadConfig } from "../../shared/config";
import type { TripEvent } from "../../shared/events/trip-events";
import { newTripId } from "../../shared/trips/trip-id";
import { type TripStore } from "../../shared/trips/trip-store";
import type { Trip } from "../../shared/trips/trip";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HCMC, offset, tripRequest } from "../../harness/places";
import { resetState, shardSql } from "../../harness/state";
import type { Region } from "../../shared/regions";
import { settleDeadLettersApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const STALE_TRIP_MS = 120_000;
let trips: TripStore;
let nats: Nats;
let drivers: DriverIndex;
let jsm: JetStreamManager;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies({ ...config, staleTripMs: STALE_TRIP_MS });
  ({ trips, nats, drivers, handles } = wired);
  jsm = await jetstreamManager(await nats.connected);
  fn = inProcess(settleDeadLettersApp(wired.deps));
});
afterAll(() => Promise.all(handles.map((handle) => handle.close())));
beforeEach(resetState);

async function bookedTrip(region: Region = "vn"): Promise<Trip> {
  return (await trips.create(region, { ...(tripRequest(HCMC) as Trip), id: newTripId(region), riderId: "rider-1" })).trip;
}

/** A dead letter as the JetStream source delivers it from DEAD_LETTERS. */
function deliver(body: string, type = TRIP_DEAD_LETTER_TYPE) {
  const attributes = {
    id: "deadletter:TRIPS:assign-driver:1:1",
    source: "nats://jetstream/DEAD_LETTERS",
    type,
    subject: "deadletter.TRIPS.assign-driver",
  };
  return fn.request("/", { method: "POST", ...toBinary(attributes, "application/json", body) });
}

function requested(trip: Trip, type: TripEvent["type"] = TRIP_REQUESTED_TYPE): string {
  return JSON.stringify({ schemaVersion: 1, type, time: new Date().toISOString(), trip } satisfies TripEvent);
}

describe("POST / (dead-lettered trip events)", () => {
  it("ends a trip whose trips.requested was dead-lettered as no_driver, and announces it", async () => {
    const trip = await bookedTrip();
    const response = await deliver(requested(trip));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ tripId: trip.id, outcome: "no_driver" });
    expect((await trips.get(trip.id))?.status).toBe("no_driver");
    const event = await jsm.streams.getMessage("TRIPS", { last_by_subj: "trips.unassigned.vn" });
    expect(event?.json<TripEvent>()).toMatchObject({ type: "trips.unassigned", trip: { id: trip.id } });
  });

  it("gives back a driver the trip had claimed before its matching broke off", async () => {
    await drivers.update("vn", { driverId: "d1", ...offset(HCMC, 200, 0), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();
    // assign-driver claimed d1, then failed on every delivery (PostgreSQL down, say) until the event was dead-lettered.
    await drivers.claim("vn", { tripId: trip.id, ...HCMC, radiusMeters: 5000 });
    expect(await drivers.search("vn", { ...HCMC, radiusMeters: 5000, limit: 10 })).toEqual([]);

    expect(await (await deliver(requested(trip))).json()).toMatchObject({ outcome: "no_driver" });
    expect((await drivers.search("vn", { ...HCMC, radiusMeters: 5000, limit: 10 })).map((d) => d.id)).toEqual(["d1"]);
  });

  it("leaves a trip that has moved on as it is", async () => {
    const trip = await bookedTrip();
    await trips.assign(trip.id, "d1");
    expect(await (await deliver(requested(trip))).json()).toMatchObject({ outcome: "not_requested" });
    expect(await trips.get(trip.id)).toMatchObject({ status: "assigned", driverId: "d1" });
  });

  it("acknowledges what it cannot read or need not settle, so a dead letter never loops", async () => {
    const trip = await bookedTrip();
    const cases = [
      [await deliver("{not json"), "unreadable"],
      [await deliver(JSON.stringify({ schemaVersion: 99, trip })), "unreadable"],
      [await deliver(requested(trip, "trips.cancelled")), "nothing_to_settle"],
      [await deliver(requested({ ...trip, id: newTripId("th") })), "trip_not_found"],
    ] as const;
    for (const [response, outcome] of cases) {
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ outcome });
    }
    expect((await trips.get(trip.id))?.status).toBe("requested");
  });
});

describe("POST /forgotten-trips (a PingSource's schedule)", () => {
  function ping(type = PING_TYPE) {
    const attributes = { id: "ping-1", source: "/apis/v1/namespaces/default/pingsources/forgotten-trips", type };
    return fn.request("/forgotten-trips", { method: "POST", ...toBinary(attributes, "application/json", "{}") });
  }

  /** Moves the trip's entry into matching (updated_at) `ms` into the past, as if it had waited that long. */
  async function waited(trip: Trip, ms: number): Promise<void> {
    const sql = shardSql(trip.id.startsWith("th_") ? "th" : "vn");
    try {
      await sql`update trips set updated_at = now() - ${ms} * interval '1 millisecond' where id = ${trip.id}`;
    } finally {
      await sql.end();
    }
  }

  async function unassignedEvents(): Promise<string[]> {
    const ids: string[] = [];
    for (const region of ["vn", "th"]) {
      const event = await jsm.streams.getMessage("TRIPS", { last_by_subj: `trips.unassigned.${region}` }).catch(() => undefined);
      if (event) ids.push(event.json<TripEvent>().trip.id);
    }
    return ids.sort();
  }

  it("ends every trip still requested past STALE_TRIP_MS as no_driver, in every shard, announced, its claimed driver given back", async () => {
    await drivers.update("vn", { driverId: "d1", ...offset(HCMC, 200, 0), status: "available", recordedAt: Date.now() });
    const forgottenHere = await bookedTrip("vn");
    const forgottenThere = await bookedTrip("th");
    await drivers.claim("vn", { tripId: forgottenHere.id, ...HCMC, radiusMeters: 5000 });
    await waited(forgottenHere, STALE_TRIP_MS + 1_000);
    await waited(forgottenThere, STALE_TRIP_MS + 1_000);
    // Still within matching's reach, and one that has moved on: both left alone.
    const matching = await bookedTrip("vn");
    await waited(matching, STALE_TRIP_MS - 10_000);
    const assigned = await bookedTrip("vn");
    await trips.assign(assigned.id, "d2");
    await waited(assigned, STALE_TRIP_MS + 1_000);

    const response = await ping();
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ outcomes: { no_driver: 2 } });
    expect((await trips.get(forgottenHere.id))?.status).toBe("no_driver");
    expect((await trips.get(forgottenThere.id))?.status).toBe("no_driver");
    expect(await unassignedEvents()).toEqual([forgottenHere.id, forgottenThere.id].sort());
    expect((await drivers.search("vn", { ...HCMC, radiusMeters: 5000, limit: 10 })).map((d) => d.id)).toEqual(["d1"]);
    expect((await trips.get(matching.id))?.status).toBe("requested");
    expect(await trips.get(assigned.id)).toMatchObject({ status: "assigned", driverId: "d2" });

    // The next ping finds nothing left to do.
    expect(await (await ping()).json()).toEqual({ outcomes: {} });
  });

  it("refuses anything but a ping with 400, and changes nothing", async () => {
    const trip = await bookedTrip();
    await waited(trip, STALE_TRIP_MS + 1_000);
    expect((await ping(TRIP_DEAD_LETTER_TYPE)).status).toBe(400);
    const notAnEvent = await fn.request("/forgotten-trips", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(notAnEvent.status).toBe(400);
    expect((await trips.get(trip.id))?.status).toBe("requested");
  });
});
