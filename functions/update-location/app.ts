import { Hono } from "hono";
import type { DriverIndex } from "../../shared/drivers/driver-index";
import { recordedAtIssue, type LocationEvents } from "../../shared/events/location-events";
import { DRIVER_STATUSES, MEASURED_FIELDS, type DriverLocation } from "../../shared/drivers/driver";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError } from "../../shared/http/errors";
import { readJsonObject } from "../../shared/http/json-body";
import { rateLimitPerPrincipal } from "../../shared/http/rate-limit";
import { counter } from "../../shared/metrics";
import type { RateLimiter } from "../../shared/rate-limit";
import { cityAt } from "../../shared/regions";
import { oneOf, optional, parse, timestamp } from "../../shared/validation";

const LOCATION_UPDATE = {
  ...MEASURED_FIELDS,
  recordedAt: optional(timestamp()),
  status: optional(oneOf(DRIVER_STATUSES)),
};

const updates = counter("uitgo_location_updates_total", "Driver location updates, by region and reported status", ["region", "status"]);

export interface UpdateLocationDeps {
  drivers: DriverIndex;
  events: LocationEvents;
  jwtSecret: string;
  /** Updates per driver over time; none when absent. */
  updates?: RateLimiter;
}

export function updateLocationApp({ drivers, events, jwtSecret, updates: rate }: UpdateLocationDeps) {
  return new Hono<AuthEnv>().post("/v1/drivers/me/location", requireRole(jwtSecret, "driver"), rateLimitPerPrincipal(rate), async (c) => {
    const { recordedAt: reportedAt, status = "available", ...measured } = parse(LOCATION_UPDATE, await readJsonObject(c));
    const city = cityAt(measured);
    if (!city) throw new ApiError(422, "outside_service_area", "The position is outside every service area");

    // A device clock ahead of ours must not keep a driver "fresh" after they stop reporting.
    const now = Date.now();
    const recordedAt = Math.min(reportedAt?.getTime() ?? now, now);
    const issue = recordedAtIssue(recordedAt, now);
    if (issue) throw new ApiError(400, "invalid_request", `Invalid request: recordedAt ${issue}`, [{ field: "recordedAt", issue }]);
    const location: DriverLocation = { ...measured, driverId: c.get("principal").id, region: city.region, status, recordedAt };

    // The stream first: the geo-index is a view of it. If NATS cannot store the update, the driver hears 503 and
    // nothing has changed. If Redis then fails, the driver's retry of the same update is a duplicate that the stream
    // (alone in its event) or the history drops, and only moves the index.
    await events.publish(location);
    await drivers.update(city.region, location, now);
    updates.inc({ region: city.region, status });
    return c.body(null, 202);
  });
}
