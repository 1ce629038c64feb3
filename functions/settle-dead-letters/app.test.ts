// settle-dead-letters on the real stores: a dead-lettered trips.requested ends its trip as no_driver.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { Nats } from "../../shared/clients/nats";
import { connectRedis } from "../../shared/clients/redis";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { loadConfig } from "../../shared/config";
import { TripEvents, type TripEvent } from "../../shared/events/trip-events";
import { newTripId } from "../../shared/trips/trip-id";
import { TripStore } from "../../shared/trips/trip-store";
import type { Trip } from "../../shared/trips/trip";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HCMC, offset, tripRequest } from "../../tests/support/places";
import { resetState } from "../../tests/support/state";
import { settleDeadLettersApp } from "./app";

const config = loadConfig();
let trips: TripStore;
let nats: Nats;
let redis: Redis;
let drivers: DriverIndex;
let jsm: JetStreamManager;
let fn: TestFunction;

beforeAll(async () => {
  trips = TripStore.connect(config);
  nats = new Nats(config.natsUrl, "settle-dead-letters-test", 2000);
  jsm = await jetstreamManager(await nats.connected);
  redis = connectRedis(config.redisUrl, 2000);
  drivers = new DriverIndex(redis, config.driverFreshMs);
  fn = inProcess(settleDeadLettersApp({ trips, events: new TripEvents(nats), drivers }));
});
afterAll(async () => {
  await Promise.all([...trips.handles().map((h) => h.close()), nats.close(), redis.quit()]);
});
beforeEach(resetState);

async function bookedTrip(): Promise<Trip> {
  return (await trips.create("vn", { ...(tripRequest(HCMC) as Trip), id: newTripId("vn"), riderId: "rider-1" })).trip;
}

/** A dead letter as the JetStream source delivers it from DEAD_LETTERS. */
function deliver(body: string, type = "deadletter.TRIPS") {
  return fn.request("/", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "deadletter:TRIPS:assign-driver:1:1",
      "ce-source": "nats://jetstream/DEAD_LETTERS",
      "ce-type": type,
      "ce-subject": "deadletter.TRIPS.assign-driver",
    },
    body,
  });
}

function requested(trip: Trip, type: TripEvent["type"] = "trips.requested"): string {
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
