import { Hono } from "hono";
import type { LocationHistory } from "../../shared/drivers/location-history";
import { LOCATION_EVENT_TYPE, parseLocationEvent } from "../../shared/events/location-events";
import { backOffWhileUnavailable, cloudEvent } from "../../shared/http/cloudevent";
import { readJsonObject } from "../../shared/http/json-body";
import { counter } from "../../shared/metrics";

const recorded = counter("uitgo_location_history_events_total", "Location events written to history, by result", ["result"]);

export interface RecordLocationsDeps {
  history: LocationHistory;
}

// Called by the JetStream source with one binary-mode CloudEvent per drivers.location message. The answer
// comes once the row is committed with others of its batch: 2xx acks the message, 4xx dead-letters it,
// 503 (PostgreSQL down) has it redelivered, later each time. A redelivered event is answered 200 and adds no row.
export function recordLocationsApp({ history }: RecordLocationsDeps) {
  return new Hono().post("/", backOffWhileUnavailable(), cloudEvent(LOCATION_EVENT_TYPE), async (c) => {
    const location = parseLocationEvent(await readJsonObject(c));
    const outcome = (await history.record(location)) ? "recorded" : "duplicate";
    recorded.inc({ result: outcome });
    return c.json({ driverId: location.driverId, recordedAt: new Date(location.recordedAt).toISOString(), outcome });
  });
}
