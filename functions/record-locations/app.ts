import { Hono } from "hono";
import type { LocationHistory } from "../../shared/drivers/location-history";
import { SOURCE_SETTINGS } from "../../shared/config";
import { LOCATION_EVENT_TYPE, MAX_LOCATION_EVENT_BYTES, parseLocationEvent } from "../../shared/events/location-events";
import { decodeEventBatch, isEventBatch, readEventBatch } from "../../shared/http/cloudevent-batch";
import { backOffWhileUnavailable, cloudEvent } from "../../shared/http/cloudevent";
import { readJsonObject } from "../../shared/http/json-body";
import { counter } from "../../shared/metrics";

/** The batches its source makes (SOURCE_SETTINGS), each event at its largest. */
export const MAX_LOCATION_BATCH_BYTES = Number(SOURCE_SETTINGS["record-locations"]!.SOURCE_BATCH_MAX) * MAX_LOCATION_EVENT_BYTES;

const recorded = counter("uitgo_location_history_events_total", "Location updates written to history (recorded) or found there already (duplicate)", ["result"]);

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
  return new Hono().post("/", backOffWhileUnavailable(), cloudEvent(LOCATION_EVENT_TYPE), async (c) => {
    // Every event is checked before any is written, so a refused request leaves nothing behind to be written twice.
    const locations = isEventBatch(c)
      ? decodeEventBatch(await readEventBatch(c, MAX_LOCATION_BATCH_BYTES), LOCATION_EVENT_TYPE, parseLocationEvent).flat()
      : parseLocationEvent(await readJsonObject(c, MAX_LOCATION_EVENT_BYTES));
    const fresh = (await Promise.all(locations.map((location) => history.record(location)))).filter(Boolean).length;
    recorded.inc({ result: "recorded" }, fresh);
    recorded.inc({ result: "duplicate" }, locations.length - fresh);
    return c.json({ recorded: fresh, duplicate: locations.length - fresh });
  });
}
