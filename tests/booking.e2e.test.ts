// The booking path end to end: every function and the JetStream source as their own processes behind
// the local entry point, over the real NATS, Redis and PostgreSQL.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../local/stack";
import { TRIP_REQUESTED_TYPE } from "../shared/cloudevents/types";
import type { TripEvent } from "../shared/events/trip-events";
import type { Trip } from "../shared/trips/trip";
import { newTripId } from "../shared/trips/trip-id";
import { bearer } from "./support/auth";
import { reportAvailable } from "./support/http";
import { HCMC, offset, randomPointNear, tripRequest } from "../harness/places";
import { waitFor } from "../harness/processes";
import { resetState, shardSql } from "../harness/state";
import { consumerBacklog } from "../harness/streams";
import { TEST_PORT_OFFSET } from "./support/test-env";
import { fileLogDir } from "./support/process-watch";

let stack: Stack;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  // Trips nobody can take end no_driver after a second here, rather than the minute a rider gets.
  stack = await startStack({ basePort: 28080 + TEST_PORT_OFFSET, build: false, logDir: fileLogDir(), env: { MATCH_DEADLINE_MS: "1000" } });
  nc = await connect({ servers: process.env.NATS_URL! });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});
beforeEach(resetState);

function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  return fetch(`${stack.gatewayUrl}${path}`, init);
}

function reportLocation(driverId: string, point: { lat: number; lng: number }) {
  return reportAvailable(stack.gatewayUrl, driverId, point);
}

async function book(riderId: string, origin = HCMC, headers: Record<string, string> = {}): Promise<Trip> {
  const response = await call("/v1/trips", {
    method: "POST",
    headers: { ...bearer("rider", riderId), "content-type": "application/json", ...headers },
    body: JSON.stringify(tripRequest(origin)),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Trip;
}

async function getTrip(id: string, riderId: string): Promise<Trip> {
  const response = await call(`/v1/trips/${id}`, { headers: bearer("rider", riderId) });
  expect(response.status).toBe(200);
  return (await response.json()) as Trip;
}

async function settled(id: string, riderId: string): Promise<Trip> {
  return waitFor(
    async () => {
      const trip = await getTrip(id, riderId);
      return trip.status !== "requested" && trip;
    },
    15_000,
    `trip ${id} to leave requested`,
  );
}

async function consumerIdle(): Promise<boolean> {
  return (await consumerBacklog(jsm, "TRIPS", "assign-driver")) === 0;
}

describe("booking a trip", () => {
  it("assigns the nearest available driver, and the rider sees assigned", async () => {
    await reportLocation("far", offset(HCMC, 2000, 0));
    await reportLocation("near", offset(HCMC, 300, 200));
    await reportLocation("middle", offset(HCMC, -900, 0));

    const booked = await book("rider-1");
    expect(booked.status).toBe("requested");
    const trip = await settled(booked.id, "rider-1");
    expect(trip).toMatchObject({ status: "assigned", driverId: "near", riderId: "rider-1" });

    // The driver can read it too; the assigned driver no longer shows up in search.
    expect((await call(`/v1/trips/${trip.id}`, { headers: bearer("driver", "near") })).status).toBe(200);
    const search = await call(`/v1/drivers/search?lat=${HCMC.lat}&lng=${HCMC.lng}`, { headers: bearer("rider", "rider-1") });
    expect(((await search.json()) as { items: { id: string }[] }).items.map((d) => d.id)).toEqual(["middle", "far"]);
  });

  it("ends no_driver when no available driver is within reach", async () => {
    await reportLocation("across-town", offset(HCMC, 8000, 0));
    const booked = await book("rider-2");
    expect(await settled(booked.id, "rider-2")).toMatchObject({ status: "no_driver" });
    expect((await getTrip(booked.id, "rider-2")).driverId).toBeUndefined();
  });

  it("reaches each function by its Knative host name too", async () => {
    await reportLocation("d1", offset(HCMC, 100, 0));
    const booked = await book("rider-3", HCMC, { host: "create-trip.default.127.0.0.1.sslip.io" });
    const response = await call(`/v1/trips/${booked.id}`, {
      headers: { ...bearer("rider", "rider-3"), host: "get-trip.default.127.0.0.1.sslip.io" },
    });
    expect(response.status).toBe(200);
  });
});

describe("300 trips booked at once around one point, 100 drivers nearby", () => {
  it("assigns exactly 100 trips, each driver once, and redelivering every event changes nothing", async () => {
    const drivers = Array.from({ length: 100 }, (_, i) => `driver-${i}`);
    for (const id of drivers) await reportLocation(id, randomPointNear(HCMC, 1500));

    const trips = await Promise.all(Array.from({ length: 300 }, (_, i) => book(`rider-${i}`, randomPointNear(HCMC, 200))));
    await waitFor(consumerIdle, 60_000, "the assign-driver consumer to drain");
    const final = await Promise.all(trips.map((t) => settled(t.id, t.riderId)));

    const assigned = final.filter((t) => t.status === "assigned");
    const counts = { assigned: assigned.length, no_driver: final.filter((t) => t.status === "no_driver").length };
    console.log(`300 bookings, 100 drivers: ${JSON.stringify(counts)}`);
    expect(assigned).toHaveLength(100);
    expect(new Set(assigned.map((t) => t.driverId)).size).toBe(100);
    expect(counts.no_driver).toBe(200);

    // Every trips.requested message again, under new message ids so JetStream does not deduplicate them.
    const js = jetstream(nc);
    for (const trip of trips) {
      const event: TripEvent = { schemaVersion: 1, type: TRIP_REQUESTED_TYPE, time: new Date().toISOString(), trip };
      await js.publish(`trips.requested.vn`, JSON.stringify(event), { msgID: `${trip.id}:requested:again` });
    }
    await waitFor(consumerIdle, 60_000, "the redeliveries to drain");

    const sql = shardSql("vn");
    const rows = await sql<{ id: string; status: string; driver_id: string | null; updated_at: Date }[]>`
      select id, status, driver_id, updated_at from trips order by id`;
    const busiest = await sql<{ n: number }[]>`
      select coalesce(max(n), 0)::int as n from (
        select count(*) as n from trips where status in ('assigned', 'accepted', 'in_ride') group by driver_id) per_driver`;
    await sql.end();
    expect(rows).toHaveLength(300);
    expect(busiest[0]!.n).toBe(1);
    const before = new Map(final.map((t) => [t.id, t]));
    for (const row of rows) {
      const trip = before.get(row.id)!;
      expect({ status: row.status, driverId: row.driver_id ?? undefined, updatedAt: row.updated_at.toISOString() }).toEqual({
        status: trip.status,
        driverId: trip.driverId,
        updatedAt: trip.updatedAt,
      });
    }
  });
});

describe("the trip lifecycle through the entry point", () => {
  async function act(tripId: string, action: string, role: "rider" | "driver", id: string) {
    const response = await call(`/v1/trips/${tripId}/${action}`, { method: "POST", headers: bearer(role, id) });
    return { status: response.status, body: (await response.json()) as Trip & { error?: { code: string } } };
  }

  it("takes a trip from booking to completed, and the driver is then matched again", async () => {
    await reportLocation("d1", offset(HCMC, 250, 0));
    const trip = await settled((await book("rider-life")).id, "rider-life");
    expect(trip).toMatchObject({ status: "assigned", driverId: "d1" });

    expect(await act(trip.id, "accept", "driver", "d1")).toMatchObject({ status: 200, body: { status: "accepted" } });
    expect(await act(trip.id, "start", "driver", "d1")).toMatchObject({ status: 200, body: { status: "in_ride" } });
    expect(await act(trip.id, "cancel", "rider", "rider-life")).toMatchObject({
      status: 409,
      body: { error: { code: "illegal_transition" } },
    });
    expect(await act(trip.id, "complete", "driver", "d1")).toMatchObject({ status: 200, body: { status: "completed" } });
    expect(await getTrip(trip.id, "rider-life")).toMatchObject({ status: "completed", driverId: "d1" });

    expect(await settled((await book("rider-next")).id, "rider-next")).toMatchObject({ status: "assigned", driverId: "d1" });
  });

  it("matches a declined trip with the next driver", async () => {
    await reportLocation("near", offset(HCMC, 100, 0));
    await reportLocation("farther", offset(HCMC, 700, 0));
    const trip = await settled((await book("rider-decline")).id, "rider-decline");
    expect(trip.driverId).toBe("near");

    expect(await act(trip.id, "decline", "driver", "near")).toMatchObject({ status: 200, body: { status: "requested" } });
    expect(await settled(trip.id, "rider-decline")).toMatchObject({ status: "assigned", driverId: "farther" });
  });
});

describe("events the consumers cannot take", () => {
  it("dead-letters a malformed and an unknown event without holding up the trips behind them", async () => {
    await reportLocation("d1", offset(HCMC, 100, 0));
    const js = jetstream(nc);
    const run = Date.now();
    await js.publish("trips.requested.vn", "{not json", { msgID: `malformed-${run}` });
    await js.publish("trips.requested.vn", JSON.stringify({ schemaVersion: 99, type: TRIP_REQUESTED_TYPE }), { msgID: `unknown-${run}` });
    const trip = await settled((await book("rider-behind")).id, "rider-behind");
    expect(trip).toMatchObject({ status: "assigned", driverId: "d1" });

    await waitFor(consumerIdle, 10_000, "the assign-driver consumer to drain");
    const dead = await jsm.streams.info("DEAD_LETTERS", { subjects_filter: "deadletter.TRIPS.assign-driver" });
    expect(dead.state.subjects?.["deadletter.TRIPS.assign-driver"]).toBe(2);
    expect((await fetch(`http://127.0.0.1:${stack.ports["assign-driver"]}/health/readiness`)).status).toBe(200);
  });

  it("ends a trip whose trips.requested was dead-lettered as no_driver", async () => {
    const sql = shardSql("vn");
    const id = newTripId("vn");
    await sql`insert into trips (id, rider_id, service_id, origin_text, dest_text, origin_lat, origin_lng, dest_lat, dest_lng, status)
              values (${id}, 'rider-dead', 'car', 'a', 'b', ${HCMC.lat}, ${HCMC.lng}, ${HCMC.lat}, ${HCMC.lng}, 'requested')`;
    await sql.end();
    const trip = await getTrip(id, "rider-dead");
    // What the JetStream source stores when a trips.requested runs out of deliveries.
    const event: TripEvent = { schemaVersion: 1, type: TRIP_REQUESTED_TYPE, time: new Date().toISOString(), trip };
    await jetstream(nc).publish("deadletter.TRIPS.assign-driver", JSON.stringify(event), { msgID: `dead-${id}` });

    expect(await settled(id, "rider-dead")).toMatchObject({ status: "no_driver" });
  });
});
