import { describe, expect, it } from "vitest";
import type { Principal } from "../principal";
import { TRANSITIONS, TRIP_ACTIONS, authorize, decide, type TripAction } from "./state-machine";
import { TRIP_STATUSES, type Trip, type TripStatus } from "./trip";

const rider: Principal = { id: "rider-1", role: "rider" };
const driver: Principal = { id: "driver-1", role: "driver" };

function trip(status: TripStatus, driverId: string | undefined = status === "requested" ? undefined : driver.id): Trip {
  return {
    id: "vn-trip",
    riderId: rider.id,
    ...(driverId && { driverId }),
    status,
    serviceId: "car",
    originText: "a",
    destText: "b",
    originLat: 10.77,
    originLng: 106.7,
    destLat: 10.78,
    destLng: 106.71,
    createdAt: "2026-12-02T00:00:00.000Z",
    updatedAt: "2026-12-02T00:00:00.000Z",
  };
}

const actorOf = (action: TripAction) => (TRANSITIONS[action].by === "rider" ? rider : driver);

describe("decide", () => {
  it("moves a trip along the happy path, keeping its driver", () => {
    expect(decide(trip("assigned"), "accept", driver)).toMatchObject({
      kind: "apply",
      change: { status: "accepted", driverId: driver.id },
    });
    expect(decide(trip("accepted"), "start", driver)).toMatchObject({ kind: "apply", change: { status: "in_ride", driverId: driver.id } });
    expect(decide(trip("in_ride"), "complete", driver)).toMatchObject({
      kind: "apply",
      change: { status: "completed", driverId: driver.id },
    });
  });

  it("sends a declined trip back to matching without its driver, who is recorded as a decliner", () => {
    expect(decide(trip("assigned"), "decline", driver)).toEqual({
      kind: "apply",
      trip: trip("assigned"),
      change: { status: "requested", driverId: null, declinedBy: driver.id },
    });
  });

  it("lets the rider cancel before the ride starts, and only then", () => {
    for (const status of ["requested", "assigned", "accepted"] as const) {
      expect(decide(trip(status), "cancel", rider)).toMatchObject({ kind: "apply", change: { status: "cancelled" } });
    }
    for (const status of ["in_ride", "completed", "no_driver"] as const) {
      expect(decide(trip(status), "cancel", rider)).toEqual({ kind: "conflict", trip: trip(status) });
    }
  });

  it("takes a repeat of the step that brought the trip where it is for a replay, except a decline", () => {
    expect(decide(trip("accepted"), "accept", driver)).toEqual({ kind: "replay", trip: trip("accepted") });
    expect(decide(trip("cancelled"), "cancel", rider)).toEqual({ kind: "replay", trip: trip("cancelled") });
    // After a decline the trip is requested again with no driver: the decliner finds a trip that is not theirs.
    expect(decide(trip("requested"), "decline", driver)).toEqual({ kind: "not_found" });
  });

  it("refuses every action whose source status is not the trip's, unless it replays", () => {
    for (const status of TRIP_STATUSES) {
      for (const action of TRIP_ACTIONS) {
        const rule = TRANSITIONS[action];
        const decision = decide(trip(status, driver.id), action, actorOf(action));
        if (rule.from.includes(status)) expect(decision.kind, `${action} from ${status}`).toBe("apply");
        else if (status === rule.to && !rule.rematches) expect(decision.kind, `${action} from ${status}`).toBe("replay");
        else expect(decision, `${action} from ${status}`).toEqual({ kind: "conflict", trip: trip(status, driver.id) });
      }
    }
  });

  it("answers not_found for a missing trip and for someone else's, whatever its status", () => {
    const stranger: Principal = { id: "driver-2", role: "driver" };
    expect(decide(undefined, "accept", driver)).toEqual({ kind: "not_found" });
    expect(decide(trip("assigned"), "accept", stranger)).toEqual({ kind: "not_found" });
    expect(decide(trip("assigned"), "cancel", { id: "rider-2", role: "rider" })).toEqual({ kind: "not_found" });
  });

  it("checks the role before anything else, so a wrong role learns nothing about the trip", () => {
    for (const action of TRIP_ACTIONS) {
      const wrong = actorOf(action) === rider ? driver : rider;
      const refusal = { kind: "forbidden", by: TRANSITIONS[action].by };
      expect(authorize(action, wrong)).toEqual(refusal);
      expect(decide(undefined, action, wrong)).toEqual(refusal);
      expect(decide(trip("assigned"), action, wrong)).toEqual(refusal);
      expect(authorize(action, actorOf(action))).toBeUndefined();
    }
  });
});
