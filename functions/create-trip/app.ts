import { Hono } from "hono";
import type { TripEvents } from "../../shared/events/trip-events";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError } from "../../shared/http/errors";
import { readJsonObject } from "../../shared/http/json-body";
import { rateLimitPerPrincipal } from "../../shared/http/rate-limit";
import { counter } from "../../shared/metrics";
import type { RateLimiter } from "../../shared/rate-limit";
import { cityAt } from "../../shared/regions";
import { SERVICE_IDS, type Trip } from "../../shared/trips/trip";
import { newTripId } from "../../shared/trips/trip-id";
import { ActiveTripLimit, type TripStore } from "../../shared/trips/trip-store";
import { latitude, longitude, oneOf, parse, text } from "../../shared/validation";

const TRIP_REQUEST = {
  originText: text(500),
  destText: text(500),
  serviceId: oneOf(SERVICE_IDS),
  originLat: latitude(),
  originLng: longitude(),
  destLat: latitude(),
  destLng: longitude(),
};

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const tripsCreated = counter("uitgo_trips_created_total", "Trips booked", ["region", "service"]);

export interface CreateTripDeps {
  trips: TripStore;
  events: TripEvents;
  jwtSecret: string;
  /** Bookings per rider over time; none when absent. */
  bookings?: RateLimiter;
  /** Trips a rider may have under way at once; no limit when absent. */
  maxActiveTrips?: number;
}

export function createTripApp({ trips, events, jwtSecret, bookings, maxActiveTrips }: CreateTripDeps) {
  return new Hono<AuthEnv>().post("/v1/trips", requireRole(jwtSecret, "rider"), rateLimitPerPrincipal(bookings), async (c) => {
    const request = parse(TRIP_REQUEST, await readJsonObject(c));
    const idempotencyKey = c.req.header("idempotency-key");
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters");
    }
    const city = cityAt({ lat: request.originLat, lng: request.originLng });
    if (!city) {
      throw new ApiError(422, "outside_service_area", "The pickup is outside every service area", [
        { field: "originLat", issue: "pickup is not inside any city UIT-Go serves" },
      ]);
    }

    const created = await trips
      .create(city.region, {
        ...request,
        id: newTripId(city.region),
        riderId: c.get("principal").id,
        ...(idempotencyKey !== undefined && { idempotencyKey }),
        ...(maxActiveTrips !== undefined && { maxActiveTrips }),
      })
      .catch((err: unknown) => {
        if (!(err instanceof ActiveTripLimit)) throw err;
        throw new ApiError(
          409,
          "too_many_active_trips",
          `A rider may have at most ${err.limit} trip${err.limit === 1 ? "" : "s"} under way; finish or cancel one first`,
          [{ field: "riderId", issue: err.message }],
        );
      });
    const { replayed, sameRequest } = created;
    let { trip } = created;
    if (!sameRequest) {
      throw new ApiError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different trip");
    }

    // The rider hears 201 only once the event is stored, so an accepted trip is always matched.
    // If it cannot be stored the booking is undone and the rider is asked to retry.
    if (trip.status === "requested") {
      try {
        await events.publish("requested", trip);
      } catch (err) {
        const matched = replayed ? undefined : await undoUnlessMatched(trips, trip.id);
        if (!matched) throw err;
        trip = matched;
      }
    }

    if (!replayed) tripsCreated.inc({ region: city.region, service: trip.serviceId });
    c.header("Location", `/v1/trips/${trip.id}`);
    if (replayed) c.header("Idempotent-Replayed", "true");
    return c.json(trip, 201);
  });
}

/**
 * Undoes a booking whose event could not be confirmed stored. A publish whose answer was lost (NATS cut or silent
 * mid-publish) may still have stored the event, and matching may have taken the trip already: then the booking
 * stands, and the trip as it now is comes back, to be answered 201, rather than a 503 for a trip a driver is on
 * the way to. Undefined when the booking is undone, or when PostgreSQL cannot say (the trip then stays requested
 * until matching or the forgotten-trips ping ends it, as a silent insert's does).
 */
async function undoUnlessMatched(trips: TripStore, id: string): Promise<Trip | undefined> {
  try {
    if (await trips.discard(id)) return undefined;
    return await trips.get(id);
  } catch {
    return undefined;
  }
}
