import { Hono } from "hono";
import type { LocationHistory } from "../../shared/drivers/location-history";
import { SOURCE_SETTINGS } from "../../shared/config";
import { DRIVER_LOCATION_TYPE } from "../../shared/cloudevents/types";
import { MAX_LOCATION_EVENT_BYTES, parseLocationEvent } from "../../shared/events/location-events";
import { backOffWhileUnavailable, cloudEvents } from "../../shared/http/cloudevent";
import { counter } from "../../shared/metrics";

/** The batches its source makes (SOURCE_SETTINGS), each event at its largest. */
export const MAX_LOCATION_BATCH_BYTES = Number(SOURCE_SETTINGS["record-locations"]!.SOURCE_BATCH_MAX) * MAX_LOCATION_EVENT_BYTES;

const recorded = counter(
  "uitgo_location_history_events_total",
  "Location updates written to history (recorded) or found there already (duplicate)",
  ["result"],
);

export interface RecordLocationsDeps {
  history: LocationHistory;
}

// Called by the JetStream source with drivers.location messages, each carrying one or more updates: one binary-mode
// CloudEvent per request, or many in a batch (CloudEvents batched content mode). The answer comes once the rows are
// committed with others of their group: 2xx acks the messages, 4xx refuses them (one alone is dead-lettered with all
// its updates; a batch is delivered again one event at a time, so only the bad events are), 503 (PostgreSQL down)
// has them redelivered, later each time. A redelivered update is answered 200, counted as a duplicate, and adds no
// row.
export function recordLocationsApp({ history }: RecordLocationsDeps) {
  const events = cloudEvents(DRIVER_LOCATION_TYPE, parseLocationEvent, {
    event: MAX_LOCATION_EVENT_BYTES,
    batch: MAX_LOCATION_BATCH_BYTES,
  });
  return new Hono().post("/", backOffWhileUnavailable(), events, async (c) => {
    // Every event was checked before any is written, so a refused request leaves nothing behind to be written twice.
    const locations = c.var.cloudEvents.flatMap((event) => event.data);
    const fresh = (await Promise.all(locations.map((location) => history.record(location)))).filter(Boolean).length;
    recorded.inc({ result: "recorded" }, fresh);
    recorded.inc({ result: "duplicate" }, locations.length - fresh);
    return c.json({ recorded: fresh, duplicate: locations.length - fresh });
  });
}
