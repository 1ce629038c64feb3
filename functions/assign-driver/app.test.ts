// assign-driver on the real stores: a trips.requested CloudEvent in, an assignment (or no_driver) out.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Nats } from "../../shared/clients/nats";
import { toBinary } from "../../shared/cloudevents/http-binding";
import { HEADERS, SPEC_VERSION } from "../../shared/cloudevents/spec";
import { TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import { loadConfig } from "../../shared/config";
import { type DriverIndex } from "../../shared/drivers/driver-index";
import type { TripEvent } from "../../shared/events/trip-events";
import { Matcher } from "../../shared/matching";
import { newTripId } from "../../shared/trips/trip-id";
import { type TripStore } from "../../shared/trips/trip-store";
import type { Trip } from "../../shared/trips/trip";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HCMC, offset, tripRequest } from "../../harness/places";
import { resetState, shardSql } from "../../harness/state";
import { assignDriverApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
let trips: TripStore;
let nats: Nats;
let jsm: JetStreamManager;
let drivers: DriverIndex;
let fn: TestFunction;
/** The same function with a matching deadline short enough to pass within a test. */
let impatient: TestFunction;
const SHORT_DEADLINE_MS = 300;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies(config);
  ({ trips, nats, drivers, handles } = wired);
  jsm = await jetstreamManager(await nats.connected);
  fn = inProcess(assignDriverApp(wired.deps));
  const matcher = new Matcher(trips, drivers, wired.events, { radiusMeters: config.matchRadiusMeters, deadlineMs: SHORT_DEADLINE_MS });
  impatient = inProcess(assignDriverApp({ matcher }));
});
afterAll(() => Promise.all(handles.map((handle) => handle.close())));
beforeEach(resetState);

async function bookedTrip(origin = HCMC): Promise<Trip> {
  const { trip } = await trips.create("vn", { ...(tripRequest(origin) as Trip), id: newTripId("vn"), riderId: "rider-1" });
  return trip;
}

function deliver(trip: Trip, headers: Record<string, string> = {}, to = fn) {
  const event: TripEvent = { schemaVersion: 1, type: TRIP_REQUESTED_TYPE, time: new Date().toISOString(), trip };
  const attributes = {
    id: `${trip.id}:requested`,
    source: "nats://jetstream/TRIPS",
    type: TRIP_REQUESTED_TYPE,
    subject: "trips.requested.vn",
  };
  const message = toBinary(attributes, "application/json", JSON.stringify(event));
  return to.request("/", { method: "POST", headers: { ...message.headers, ...headers }, body: message.body });
}

async function lastEvent(subject: string): Promise<TripEvent | undefined> {
  try {
    const message = await jsm.streams.getMessage("TRIPS", { last_by_subj: subject });
    return message?.json<TripEvent>();
  } catch {
    return undefined;
  }
}

describe("POST / (trips.requested)", () => {
  it("assigns the nearest available driver and emits trips.assigned", async () => {
    await drivers.update("vn", { driverId: "far", ...offset(HCMC, 1500, 0), status: "available", recordedAt: Date.now() });
    await drivers.update("vn", { driverId: "near", ...offset(HCMC, 200, 100), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();

    const response = await deliver(trip);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ tripId: trip.id, outcome: "assigned", driverId: "near" });

    const stored = await trips.get(trip.id);
    expect(stored).toMatchObject({ status: "assigned", driverId: "near" });
    const event = await lastEvent("trips.assigned.vn");
    expect(event).toMatchObject({ schemaVersion: 1, type: "trips.assigned", trip: { id: trip.id, driverId: "near" } });
  });

  it("asks to be retried (503 + Retry-After) while nobody is within reach, and assigns a driver who comes online", async () => {
    await drivers.update("vn", { driverId: "too-far", ...offset(HCMC, 6000, 0), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();

    const waiting = await deliver(trip);
    expect(waiting.status).toBe(503);
    expect(waiting.headers.get("retry-after")).toBe("1");
    expect(await waiting.json()).toMatchObject({ outcome: "waiting" });
    expect((await trips.get(trip.id))?.status).toBe("requested");

    await drivers.update("vn", { driverId: "newcomer", ...offset(HCMC, 800, 0), status: "available", recordedAt: Date.now() });
    expect(await (await deliver(trip)).json()).toMatchObject({ outcome: "assigned", driverId: "newcomer" });
  });

  it("marks the trip no_driver and emits trips.unassigned once the matching deadline has passed", async () => {
    await drivers.update("vn", { driverId: "too-far", ...offset(HCMC, 6000, 0), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();

    expect((await deliver(trip, {}, impatient)).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, SHORT_DEADLINE_MS));
    const response = await deliver(trip, {}, impatient);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ outcome: "no_driver" });
    expect((await trips.get(trip.id))?.status).toBe("no_driver");
    expect(await lastEvent("trips.unassigned.vn")).toMatchObject({ type: "trips.unassigned", trip: { id: trip.id, status: "no_driver" } });
  });

  it("gives back a driver claimed for a trip that had already ended no_driver, when its event comes again", async () => {
    // Two deliveries of one trip at once: one finds nobody at the deadline and ends the trip; the other's claim
    // lands in Redis after that, and its answer is lost (a command timeout), so it never learns to give it back.
    await drivers.update("vn", { driverId: "d1", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();
    await trips.markNoDriver(trip.id);
    expect(await drivers.claim("vn", { tripId: trip.id, ...HCMC, radiusMeters: 5000 })).toBe("d1");

    const response = await deliver(trip);
    expect(await response.json()).toMatchObject({ outcome: "no_driver" });
    expect((await drivers.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 })).map((d) => d.id)).toEqual(["d1"]);
  });

  it("changes nothing when the same event is delivered again", async () => {
    await drivers.update("vn", { driverId: "d1", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    await drivers.update("vn", { driverId: "d2", ...offset(HCMC, 300, 0), status: "available", recordedAt: Date.now() });
    const trip = await bookedTrip();

    await deliver(trip);
    const first = await trips.get(trip.id);
    const again = await Promise.all([deliver(trip), deliver(trip), deliver(trip)]);
    for (const response of again) expect(await response.json()).toMatchObject({ outcome: "assigned", driverId: "d1" });

    expect(await trips.get(trip.id)).toEqual(first);
    // d2 is still free: the redeliveries took nobody else.
    expect((await drivers.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 })).map((d) => d.id)).toEqual(["d2"]);
    const assigned = await jsm.streams.info("TRIPS", { subjects_filter: "trips.assigned.vn" });
    expect(assigned.state.subjects?.["trips.assigned.vn"]).toBe(1);
  });

  it("skips a driver whom PostgreSQL already has on another trip", async () => {
    // The geo-index was lost (a Redis restart, say) and the driver reports available while on a trip.
    await drivers.update("vn", { driverId: "busy", ...offset(HCMC, 50, 0), status: "available", recordedAt: Date.now() });
    await drivers.update("vn", { driverId: "free", ...offset(HCMC, 400, 0), status: "available", recordedAt: Date.now() });
    const earlier = await bookedTrip();
    await trips.assign(earlier.id, "busy");
    const trip = await bookedTrip();

    expect(await (await deliver(trip)).json()).toMatchObject({ outcome: "assigned", driverId: "free" });
    const sql = shardSql("vn");
    const active = await sql`select driver_id from trips where status = 'assigned' order by driver_id`;
    await sql.end();
    expect(active.map((r) => r.driver_id)).toEqual(["busy", "free"]);
  });

  it("acknowledges an event for a trip that does not exist without assigning anyone", async () => {
    await drivers.update("vn", { driverId: "d1", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    const ghost = { ...(await bookedTrip()), id: newTripId("vn") };
    expect(await (await deliver(ghost)).json()).toMatchObject({ outcome: "trip_not_found" });
    expect(await drivers.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 })).toHaveLength(1);
  });

  it("refuses what is not a trips.requested CloudEvent with 400, so the source dead-letters it", async () => {
    const trip = await bookedTrip();
    const cases = [
      await deliver(trip, { [HEADERS.specversion]: "0.3" }),
      await deliver(trip, { [HEADERS.type]: "trips.cancelled" }),
      await fn.request("/", {
        method: "POST",
        headers: { [HEADERS.specversion]: SPEC_VERSION, [HEADERS.type]: TRIP_REQUESTED_TYPE },
        body: "{not json",
      }),
      await fn.request("/", {
        method: "POST",
        headers: { [HEADERS.specversion]: SPEC_VERSION, [HEADERS.type]: TRIP_REQUESTED_TYPE },
        body: JSON.stringify({ schemaVersion: 99, trip }),
      }),
    ];
    for (const response of cases) {
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
    expect((await trips.get(trip.id))?.status).toBe("requested");
  });
});
