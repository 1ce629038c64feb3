import { Hono } from "hono";
import type { DriverIndex } from "../../shared/drivers/driver-index";
import { PING_TYPE, TRIP_DEAD_LETTER_TYPE, TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import { MAX_PING_BYTES } from "../../shared/events/schedules";
import { MAX_TRIP_EVENT_BYTES, parseTripEvent, type TripEvents } from "../../shared/events/trip-events";
import { cloudEvent } from "../../shared/http/cloudevent";
import { log } from "../../shared/log";
import { endForgottenTrips, endMatching } from "../../shared/matching";
import { counter } from "../../shared/metrics";
import type { TripStore } from "../../shared/trips/trip-store";

export interface SettleDeadLettersDeps {
  trips: TripStore;
  events: TripEvents;
  drivers: DriverIndex;
  /** A trip still requested this long after it entered matching is one matching never saw. */
  staleTripMs: number;
}

/** Forgotten trips ended per shard per ping at most: a backlog is worked off over a few pings. */
const FORGOTTEN_PER_PING = 500;

const settled = counter("uitgo_dead_letters_settled_total", "Dead-lettered trip events looked at, by what was done", ["outcome"]);
const forgotten = counter(
  "uitgo_forgotten_trips_total",
  "Trips found still requested long past their matching deadline, by what was done",
  ["outcome"],
);

// Called by the JetStream source with the trip events that assign-driver could not take (DEAD_LETTERS,
// deadletter.TRIPS.>). A dead-lettered trips.requested means nobody will match that trip any more, so it
// ends as no_driver here instead of staying requested forever, and a driver it had claimed is freed.
// What cannot be read is acknowledged: the copy stays in DEAD_LETTERS for people to look at, and
// refusing it would only dead-letter it again.
//
// On a schedule (a PingSource, every few minutes), it also ends the trips matching never saw: still requested
// long past their deadline because their trips.requested was never stored, which happens when a booking is
// answered 503 while PostgreSQL has gone silent and its insert lands afterwards.
export function settleDeadLettersApp({ trips, events, drivers, staleTripMs }: SettleDeadLettersDeps) {
  return (
    new Hono()
      .post("/", cloudEvent(TRIP_DEAD_LETTER_TYPE, MAX_TRIP_EVENT_BYTES), async (c) => {
        const { subject = "", id, data } = c.var.cloudEvent;
        const event = parseTripEvent(data);

        let outcome: string;
        if (!event) {
          outcome = "unreadable";
          log("warn", "dead letter is not a trip event this version understands; left in DEAD_LETTERS", { subject, id });
        } else if (event.type !== TRIP_REQUESTED_TYPE) {
          outcome = "nothing_to_settle";
        } else {
          outcome = (await endMatching(trips, events, event.trip.id, drivers)).outcome;
          log("info", "dead-lettered trip settled", { tripId: event.trip.id, outcome });
        }
        settled.inc({ outcome });
        return c.json({ subject, outcome, ...(event && { tripId: event.trip.id }) });
      })
      // Nothing in a ping is used, but its body is still bounded before it is let go.
      .post("/forgotten-trips", cloudEvent(PING_TYPE, MAX_PING_BYTES), async (c) => {
        const results = await endForgottenTrips(trips, events, drivers, { olderThanMs: staleTripMs, limit: FORGOTTEN_PER_PING });
        const outcomes: Record<string, number> = {};
        for (const { outcome, trip } of results) {
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          forgotten.inc({ outcome });
          if (outcome === "no_driver") log("warn", "trip matching never saw ended as no_driver", { tripId: trip?.id });
        }
        return c.json({ outcomes });
      })
  );
}
