// Matching a requested trip to the nearest available driver. Safe to run any number of times for
// the same trip: the claim in the geo-index is per trip, and the trip moves to assigned only from requested.
// A trip nobody can take yet is tried again later (drivers come online all the time) until its deadline.
import type { DriverIndex } from "./drivers/driver-index";
import type { TripEvents } from "./events/trip-events";
import { counter, histogram } from "./metrics";
import { REGIONS } from "./regions";
import { UITGO, withSpan } from "./telemetry/tracing";
import { regionOfTripId } from "./trips/trip-id";
import { DriverAlreadyOnTrip, type TripStore } from "./trips/trip-store";
import type { Trip } from "./trips/trip";

export type MatchOutcome = "assigned" | "waiting" | "no_driver" | "trip_not_found" | "not_requested";

export interface MatchResult {
  outcome: MatchOutcome;
  trip?: Trip;
  /** For `waiting`: when to try again. */
  retryAfterMs?: number;
}

export interface MatchingOptions {
  /** How far from the pickup to look. */
  radiusMeters: number;
  /** How long after entering matching a trip may wait for a driver before it becomes no_driver. */
  deadlineMs: number;
}

const outcomes = counter("uitgo_matching_outcomes_total", "Trips matched, by outcome", ["outcome"]);
const bookedToAssigned = histogram(
  "uitgo_booked_to_assigned_seconds",
  "Time from booking to assignment",
  [],
  [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);

// A driver the geo-index offers but PostgreSQL already has on a trip (the index was rebuilt, say)
// is skipped; after this many such drivers the attempt fails and the event is retried.
const MAX_CLAIMS_PER_ATTEMPT = 5;

export class Matcher {
  constructor(
    private readonly trips: TripStore,
    private readonly drivers: DriverIndex,
    private readonly events: TripEvents,
    private readonly options: MatchingOptions,
  ) {}

  async match(tripId: string): Promise<MatchResult> {
    return withSpan("match trip", { attributes: { [UITGO.tripId]: tripId } }, async (span) => {
      const result = await this.attempt(tripId);
      outcomes.inc({ outcome: result.outcome });
      span.setAttribute(UITGO.outcome, result.outcome);
      return result;
    });
  }

  private async attempt(tripId: string): Promise<MatchResult> {
    const region = regionOfTripId(tripId);
    const state = region && (await this.trips.forMatching(tripId));
    if (!region || !state) return { outcome: "trip_not_found" };
    const { trip, declinedBy, requestedSince } = state;

    if (trip.status === "assigned") {
      // A redelivery after the trip was assigned but before the event was stored: publish again (deduplicated).
      await this.events.publish("assigned", trip, { occurrence: trip.driverId });
      return { outcome: "assigned", trip };
    }
    // Ended already: announce it again, and give back a driver claimed for it after it ended (a concurrent
    // delivery whose claim landed in Redis but whose answer was lost, so it never released the driver).
    if (trip.status === "no_driver") return endMatching(this.trips, this.events, tripId, this.drivers);
    if (trip.status !== "requested") return { outcome: "not_requested", trip };

    const skipped: string[] = [];
    for (let i = 0; i < MAX_CLAIMS_PER_ATTEMPT; i++) {
      const driverId = await this.drivers.claim(region, {
        tripId,
        lat: trip.originLat,
        lng: trip.originLng,
        radiusMeters: this.options.radiusMeters,
        excludedDriverIds: [...declinedBy, ...skipped],
      });
      if (!driverId) {
        const waited = Date.now() - requestedSince.getTime();
        if (waited >= this.options.deadlineMs) return this.noDriver(tripId);
        return { outcome: "waiting", trip, retryAfterMs: nextAttemptIn(waited, this.options.deadlineMs - waited) };
      }

      let current: Trip | undefined;
      try {
        current = await this.trips.assign(tripId, driverId);
      } catch (err) {
        if (!(err instanceof DriverAlreadyOnTrip)) throw err;
        await this.drivers.release(region, tripId, driverId, { available: false });
        skipped.push(driverId);
        continue;
      }

      if (current?.status === "assigned" && current.driverId === driverId) {
        bookedToAssigned.observe((Date.parse(current.updatedAt) - Date.parse(current.createdAt)) / 1000);
        // Each driver can be assigned a trip once (a driver who declines is never offered it again).
        await this.events.publish("assigned", current, { occurrence: driverId });
        return { outcome: "assigned", trip: current };
      }
      // The trip moved on (cancelled, say) while the driver was being claimed: give the driver back.
      await this.drivers.release(region, tripId, driverId, { available: true });
      return { outcome: current ? "not_requested" : "trip_not_found", ...(current && { trip: current }) };
    }
    throw new Error(`trip ${tripId}: ${MAX_CLAIMS_PER_ATTEMPT} claimed drivers were already on trips`);
  }

  private async noDriver(tripId: string): Promise<MatchResult> {
    // Nothing to give back: the claim that just failed found nobody, and a trip's claim is kept until released.
    return endMatching(this.trips, this.events, tripId);
  }
}

/**
 * Ends matching for a trip nobody can take: no_driver, announced with trips.unassigned, unless the trip
 * has moved on (assigned, cancelled). Safe to repeat: a repeated announcement is a duplicate. With
 * `drivers`, a driver the trip had claimed before matching broke off is given back first.
 */
export async function endMatching(trips: TripStore, events: TripEvents, tripId: string, drivers?: DriverIndex): Promise<MatchResult> {
  const region = regionOfTripId(tripId);
  if (!region) return { outcome: "trip_not_found" };
  const current = await trips.markNoDriver(tripId);
  if (current?.status === "no_driver") {
    await drivers?.releaseClaimOf(region, tripId);
    await events.publish("unassigned", current);
    return { outcome: "no_driver", trip: current };
  }
  return current ? { outcome: "not_requested", trip: current } : { outcome: "trip_not_found" };
}

/**
 * Ends, as no_driver, the trips still requested `olderThanMs` after they entered matching: ones whose
 * trips.requested was never stored (a booking refused with 503 whose insert landed anyway), so that matching
 * never saw them. At most `limit` per shard per call, oldest first; the outcome of each.
 */
export async function endForgottenTrips(
  trips: TripStore,
  events: TripEvents,
  drivers: DriverIndex,
  { olderThanMs, limit }: { olderThanMs: number; limit: number },
): Promise<MatchResult[]> {
  const results: MatchResult[] = [];
  for (const region of REGIONS) {
    for (const id of await trips.requestedLongerThan(region, olderThanMs, limit)) {
      results.push(await endMatching(trips, events, id, drivers));
    }
  }
  return results;
}

/**
 * Retries start at once a second and slow down as the wait grows (half the time waited, at most 10 s),
 * so a burst of unmatched trips does not hammer the geo-index; the last try lands on the deadline.
 */
export function nextAttemptIn(waitedMs: number, remainingMs: number): number {
  const backoff = Math.min(10_000, Math.max(1_000, waitedMs / 2));
  return Math.max(0, Math.min(backoff, remainingMs));
}
