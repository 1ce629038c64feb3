import { Hono } from "hono";
import { TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import { MAX_TRIP_EVENT_BYTES, parseTripEvent } from "../../shared/events/trip-events";
import { cloudEvent } from "../../shared/http/cloudevent";
import { ApiError } from "../../shared/http/errors";
import type { Matcher } from "../../shared/matching";

export interface AssignDriverDeps {
  matcher: Matcher;
}

// Called by the JetStream source with one binary-mode CloudEvent per trips.requested message.
// 2xx acks the message; 4xx sends it to the dead-letter stream; 5xx has it redelivered, after
// Retry-After when the answer gives one (a trip that is still waiting for a driver).
export function assignDriverApp({ matcher }: AssignDriverDeps) {
  return new Hono().post("/", cloudEvent(TRIP_REQUESTED_TYPE, MAX_TRIP_EVENT_BYTES), async (c) => {
    const event = parseTripEvent(c.var.cloudEvent.data);
    if (!event) throw new ApiError(400, "invalid_event", "The body is not a trips.requested event this version understands");

    const { outcome, trip, retryAfterMs } = await matcher.match(event.trip.id);
    const body = { tripId: event.trip.id, outcome, ...(trip?.driverId && { driverId: trip.driverId }) };
    if (outcome === "waiting") return c.json(body, 503, { "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs! / 1000))) });
    return c.json(body);
  });
}
