// The trip lifecycle after matching (SPEC §3): who may do what, from which status, to which status.
//
//   requested → assigned → accepted → in_ride → completed
//                  │ decline: back to requested, matched again without that driver
//   requested / assigned / accepted → cancelled (by the rider)
import type { DriverIndex } from "../drivers/driver-index";
import type { TripEvents, TripEventType } from "../events/trip-events";
import type { Principal, Role } from "../principal";
import { regionOfTripId } from "./trip-id";
import type { TripStore } from "./trip-store";
import type { Trip, TripStatus } from "./trip";

export const TRIP_ACTIONS = ["accept", "decline", "start", "complete", "cancel"] as const;
export type TripAction = (typeof TRIP_ACTIONS)[number];

export interface Transition {
  /** Who may ask for it: the trip's assigned driver, or its rider. */
  by: Role;
  from: readonly TripStatus[];
  to: TripStatus;
  /** The event announced on TRIPS once the transition is stored. */
  event: TripEventType;
  /** Whether the driver leaves the trip and becomes available again. */
  releasesDriver: boolean;
}

export const TRANSITIONS: Record<TripAction, Transition> = {
  accept: { by: "driver", from: ["assigned"], to: "accepted", event: "accepted", releasesDriver: false },
  decline: { by: "driver", from: ["assigned"], to: "requested", event: "declined", releasesDriver: true },
  start: { by: "driver", from: ["accepted"], to: "in_ride", event: "started", releasesDriver: false },
  complete: { by: "driver", from: ["in_ride"], to: "completed", event: "completed", releasesDriver: true },
  cancel: { by: "rider", from: ["requested", "assigned", "accepted"], to: "cancelled", event: "cancelled", releasesDriver: true },
};

export type ActionOutcome =
  | { kind: "done"; trip: Trip; replayed: boolean }
  | { kind: "conflict"; trip: Trip }
  | { kind: "not_found" };

/** Applies an action and everything that goes with it: the event, freeing the driver, matching again after a decline. */
export class TripLifecycle {
  constructor(
    private readonly trips: TripStore,
    private readonly drivers: DriverIndex,
    private readonly events: TripEvents,
  ) {}

  async apply(tripId: string, action: TripAction, actor: Principal): Promise<ActionOutcome> {
    const region = regionOfTripId(tripId);
    if (!region) return { kind: "not_found" };
    const rule = TRANSITIONS[action];

    // Events first, the driver last: if freeing the driver fails, the transition rolls back and at worst an
    // event went out early (consumers check the trip's status); the other order could free a driver mid-ride.
    const result = await this.trips.transition(tripId, action, actor, async ({ trip, before, declinedBy }) => {
      const driverId = before.driverId;
      if (action === "decline") {
        await this.events.publish("declined", trip, { actor, occurrence: driverId });
        // Each decline starts a new round of matching; its number keeps the new trips.requested from being taken for a duplicate.
        await this.events.publish("requested", trip, { occurrence: `round-${declinedBy.length}` });
      } else {
        await this.events.publish(rule.event, trip, { actor });
      }
      if (rule.releasesDriver && driverId) await this.drivers.release(region, tripId, driverId, { available: true });
    });
    return result.kind === "done" ? { kind: "done", trip: result.trip, replayed: result.replayed } : result;
  }
}
