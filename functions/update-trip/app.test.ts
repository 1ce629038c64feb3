// update-trip on the real stores: the lifecycle of SPEC §3, its refusals, and what each step does to the driver.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Nats } from "../../shared/clients/nats";
import { loadConfig } from "../../shared/config";
import { type DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents, type TripEvent } from "../../shared/events/trip-events";
import type { Role } from "../../shared/principal";
import { Matcher } from "../../shared/matching";
import { TRANSITIONS, TRIP_ACTIONS, type TripAction } from "../../shared/trips/state-machine";
import { TripLifecycle } from "../../shared/trip-lifecycle";
import { TRIP_STATUSES, type Trip, type TripStatus } from "../../shared/trips/trip";
import { newTripId } from "../../shared/trips/trip-id";
import { type TripStore } from "../../shared/trips/trip-store";
import { bearer } from "../../tests/support/auth";
import { expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HCMC, offset, tripRequest } from "../../harness/places";
import { resetState, shardSql } from "../../harness/state";
import { storedEvents } from "../../harness/streams";
import { updateTripApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const RIDER = "rider-lifecycle";

let trips: TripStore;
let nats: Nats;
let drivers: DriverIndex;
let matcher: Matcher;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies(config);
  ({ trips, nats, drivers, handles } = wired);
  matcher = new Matcher(trips, drivers, wired.events, { radiusMeters: config.matchRadiusMeters, deadlineMs: 60_000 });
  fn = inProcess(updateTripApp(wired.deps));
});
afterAll(() => Promise.all(handles.map((handle) => handle.close())));
beforeEach(resetState);

function driverOnline(id: string, metresEast: number): Promise<boolean> {
  return drivers.update("vn", { driverId: id, ...offset(HCMC, metresEast, 0), status: "available", recordedAt: Date.now() });
}

async function book(): Promise<Trip> {
  const { trip } = await trips.create("vn", { ...(tripRequest(HCMC) as Trip), id: newTripId("vn"), riderId: RIDER });
  return trip;
}

/** A trip matched the way assign-driver matches it: the driver is claimed in the geo-index, then assigned. */
async function assignedTrip(): Promise<Trip> {
  const trip = await book();
  const { outcome, trip: assigned } = await matcher.match(trip.id);
  expect(outcome).toBe("assigned");
  return assigned!;
}

function act(trip: Pick<Trip, "id">, action: TripAction, role: Role, id: string): Promise<Response> {
  return fn.request(`/v1/trips/${trip.id}/${action}`, { method: "POST", headers: bearer(role, id) });
}

/** The actor each action needs: the trip's rider, or its driver. */
function actorFor(action: TripAction, trip: Trip, driverId = trip.driverId ?? "no-driver"): [Role, string] {
  return TRANSITIONS[action].by === "rider" ? ["rider", trip.riderId] : ["driver", driverId];
}

async function available(): Promise<string[]> {
  return (await drivers.search("vn", { ...HCMC, radiusMeters: 5000, limit: 50 })).map((d) => d.id);
}

function events(type: string): Promise<TripEvent[]> {
  return nats.connected.then((nc) => storedEvents<TripEvent>(nc, "TRIPS", `trips.${type}.vn`));
}

describe("POST /v1/trips/:id/{accept,start,complete}", () => {
  it("takes one trip through its whole life, announcing each step and freeing the driver at the end", async () => {
    await driverOnline("d1", 300);
    const trip = await assignedTrip();
    expect(trip).toMatchObject({ status: "assigned", driverId: "d1" });
    expect(await available()).toEqual([]);

    for (const [action, status] of [
      ["accept", "accepted"],
      ["start", "in_ride"],
      ["complete", "completed"],
    ] as const) {
      const response = await act(trip, action, "driver", "d1");
      expect(response.status, action).toBe(200);
      expect(await response.json()).toMatchObject({ id: trip.id, status, driverId: "d1" });
    }

    expect(await trips.get(trip.id)).toMatchObject({ status: "completed", driverId: "d1" });
    for (const type of ["accepted", "started", "completed"]) {
      expect(await events(type)).toEqual([
        expect.objectContaining({
          type: `trips.${type}`,
          trip: expect.objectContaining({ id: trip.id }),
          actor: { id: "d1", role: "driver" },
        }),
      ]);
    }
    expect(await available()).toEqual(["d1"]);
  });

  it("answers a repeated step with the trip as it stands (Idempotent-Replayed) and announces it once", async () => {
    await driverOnline("d1", 300);
    const trip = await assignedTrip();
    expect((await act(trip, "accept", "driver", "d1")).status).toBe(200);

    const again = await act(trip, "accept", "driver", "d1");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toMatchObject({ status: "accepted" });
    expect(await events("accepted")).toHaveLength(1);
  });
});

describe("illegal transitions", () => {
  // Every (status, action) pair the lifecycle does not allow, asked by the actor the action needs.
  const illegal = TRIP_STATUSES.flatMap((status) =>
    TRIP_ACTIONS.filter((action) => !TRANSITIONS[action].from.includes(status) && TRANSITIONS[action].to !== status).map(
      (action) => [status, action] as [TripStatus, TripAction],
    ),
  );

  it.each(illegal)("a %s trip refuses %s with 409 and its current status, and stays as it was", async (status, action) => {
    const trip = await book();
    const sql = shardSql("vn");
    // A trip in any status, with a driver (the schema allows one on every status) so that driver actions reach the lifecycle rules.
    await sql`update trips set status = ${status}, driver_id = 'd1' where id = ${trip.id}`;
    await sql.end();
    const before = await trips.get(trip.id);

    const error = await expectError(
      await act(trip, action, ...actorFor(action, before!)),
      409,
      "illegal_transition",
      `${status} ${action}`,
    );
    expect(error.details).toEqual([{ field: "status", issue: status }]);
    expect(await trips.get(trip.id)).toEqual(before);
  });

  it("covers every status", () => {
    expect(new Set(illegal.map(([status]) => status))).toEqual(new Set(TRIP_STATUSES));
  });
});

describe("POST /v1/trips/:id/decline", () => {
  it("puts the trip back into matching without that driver, who is free for other trips", async () => {
    await driverOnline("near", 100);
    await driverOnline("farther", 900);
    const trip = await assignedTrip();
    expect(trip.driverId).toBe("near");

    const declined = await act(trip, "decline", "driver", "near");
    expect(declined.status).toBe(200);
    const body = (await declined.json()) as Trip;
    expect(body.status).toBe("requested");
    expect(body.driverId).toBeUndefined();
    expect(await available()).toEqual(["near", "farther"]);
    expect(await events("declined")).toEqual([expect.objectContaining({ actor: { id: "near", role: "driver" } })]);
    // The trip is requested again, as a new event that assign-driver will receive.
    expect(await events("requested")).toHaveLength(1);

    const rematched = await matcher.match(trip.id);
    expect(rematched).toMatchObject({ outcome: "assigned", trip: { driverId: "farther" } });
    expect(await available()).toEqual(["near"]);
    expect((await events("assigned")).map((event) => event.trip.driverId)).toEqual(["near", "farther"]);

    // The driver who declined no longer has anything to do with the trip.
    await expectError(await act(trip, "accept", "driver", "near"), 404, "trip_not_found");
  });

  it("ends no_driver at the deadline when everyone near has declined", async () => {
    await driverOnline("only", 100);
    const trip = await assignedTrip();
    expect((await act(trip, "decline", "driver", "only")).status).toBe(200);

    expect(await matcher.match(trip.id)).toMatchObject({ outcome: "waiting" });
    const impatient = new Matcher(trips, drivers, new TripEvents(nats), { radiusMeters: config.matchRadiusMeters, deadlineMs: 0 });
    expect(await impatient.match(trip.id)).toMatchObject({ outcome: "no_driver" });
  });
});

describe("POST /v1/trips/:id/cancel", () => {
  it("lets the rider cancel before the ride starts and frees the driver", async () => {
    await driverOnline("d1", 300);
    const trip = await assignedTrip();
    expect((await act(trip, "accept", "driver", "d1")).status).toBe(200);

    const cancelled = await act(trip, "cancel", "rider", RIDER);
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: "cancelled" });
    expect(await available()).toEqual(["d1"]);
    expect(await events("cancelled")).toEqual([expect.objectContaining({ actor: { id: RIDER, role: "rider" } })]);
  });

  it("cancels a trip still waiting for a driver; matching then leaves it alone", async () => {
    await driverOnline("d1", 300);
    const trip = await book();
    expect((await act(trip, "cancel", "rider", RIDER)).status).toBe(200);
    expect(await matcher.match(trip.id)).toMatchObject({ outcome: "not_requested" });
    expect(await available()).toEqual(["d1"]);
  });
});

describe("who may ask", () => {
  it("answers 403 to the wrong role, 404 to someone else's trip, 401 without a token, and changes nothing", async () => {
    await driverOnline("d1", 300);
    const trip = await assignedTrip();

    await expectError(await act(trip, "accept", "rider", RIDER), 403, "forbidden");
    await expectError(await act(trip, "cancel", "driver", "d1"), 403, "forbidden");
    await expectError(await act(trip, "accept", "driver", "someone-else"), 404, "trip_not_found");
    await expectError(await act(trip, "cancel", "rider", "another-rider"), 404, "trip_not_found");
    await expectError(await act({ id: "not-a-trip-id" }, "cancel", "rider", RIDER), 404, "trip_not_found");
    await expectError(await act({ id: newTripId("th") }, "cancel", "rider", RIDER), 404, "trip_not_found");
    expect((await fn.request(`/v1/trips/${trip.id}/accept`, { method: "POST" })).status).toBe(401);
    expect((await fn.request(`/v1/trips/${trip.id}/teleport`, { method: "POST", headers: bearer("driver", "d1") })).status).toBe(404);

    expect(await trips.get(trip.id)).toEqual(trip);
  });
});

describe("NATS down", () => {
  it("answers 503 with Retry-After and keeps the trip and the driver as they were", async () => {
    await driverOnline("d1", 300);
    const trip = await assignedTrip();
    expect((await act(trip, "accept", "driver", "d1")).status).toBe(200);
    expect((await act(trip, "start", "driver", "d1")).status).toBe(200);
    const before = await trips.get(trip.id);

    const unreachable = new Nats("nats://127.0.0.1:1", "update-trip-test-down", 500);
    const down = inProcess(
      updateTripApp({ lifecycle: new TripLifecycle(trips, drivers, new TripEvents(unreachable)), jwtSecret: config.jwtSecret }),
    );
    const response = await down.request(`/v1/trips/${trip.id}/complete`, { method: "POST", headers: bearer("driver", "d1") });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBeTruthy();
    expect(await trips.get(trip.id)).toEqual(before);
    expect(await available()).toEqual([]);
    await unreachable.close();
  });
});
