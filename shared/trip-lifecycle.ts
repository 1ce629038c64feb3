// A rider's or driver's action on a trip and everything that goes with it: the rules decide (trips/state-machine.ts),
// the store persists, and this announces the change and frees the driver, inside the store's transaction.
import type { DriverIndex } from "./drivers/driver-index";
import type { TripEvents } from "./events/trip-events";
import type { Principal } from "./principal";
import { TRANSITIONS, authorize, decide, type Decision, type TripAction } from "./trips/state-machine";
import { regionOfTripId } from "./trips/trip-id";
import type { TripStore } from "./trips/trip-store";
import type { Trip } from "./trips/trip";

export type ActionOutcome =
  { kind: "done"; trip: Trip; replayed: boolean } | Extract<Decision, { kind: "forbidden" | "conflict" | "not_found" }>;

export class TripLifecycle {
  constructor(
    private readonly trips: TripStore,
    private readonly drivers: DriverIndex,
    private readonly events: TripEvents,
  ) {}

  async apply(tripId: string, action: TripAction, actor: Principal): Promise<ActionOutcome> {
    // A role that never takes this action is refused without a round trip to PostgreSQL (or a lock on the trip).
    const forbidden = authorize(action, actor);
    if (forbidden) return forbidden;
    const region = regionOfTripId(tripId);
    if (!region) return { kind: "not_found" };
    const rule = TRANSITIONS[action];

    // Events first, the driver last: if freeing the driver fails, the transition rolls back and at worst an
    // event went out early (consumers check the trip's status); the other order could free a driver mid-ride.
    const result = await this.trips.transition(
      tripId,
      (before) => decide(before, action, actor),
      async ({ trip, before, declinedBy }) => {
        const driverId = before.driverId;
        await this.events.publish(rule.event, trip, { actor, ...(rule.rematches && { occurrence: driverId }) });
        // Each decline starts a new round of matching; its number keeps the new trips.requested from being taken for a duplicate.
        if (rule.rematches) await this.events.publish("requested", trip, { occurrence: `round-${declinedBy.length}` });
        if (rule.releasesDriver && driverId) await this.drivers.release(region, tripId, driverId, { available: true });
      },
    );
    return result.kind === "done" ? { kind: "done", trip: result.trip, replayed: result.replayed } : result;
  }
}
