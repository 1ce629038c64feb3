import { Hono } from "hono";
import type { DriverIndex } from "../../shared/drivers/driver-index";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError } from "../../shared/http/errors";
import { readJsonObject } from "../../shared/http/json-body";
import { counter } from "../../shared/metrics";
import { cityAt } from "../../shared/regions";
import { latitude, longitude, number, oneOf, optional, parse, timestamp } from "../../shared/validation";

const LOCATION_UPDATE = {
  lat: latitude(),
  lng: longitude(),
  accuracy: optional(number(0, 10_000)),
  heading: optional(number(0, 360)),
  speed: optional(number(0, 100)),
  recordedAt: optional(timestamp()),
  status: optional(oneOf(["available", "offline"] as const)),
};

const updates = counter("uitgo_location_updates_total", "Driver location updates, by region and reported status", ["region", "status"]);

export interface UpdateLocationDeps {
  drivers: DriverIndex;
  jwtSecret: string;
}

export function updateLocationApp({ drivers, jwtSecret }: UpdateLocationDeps) {
  return new Hono<AuthEnv>().post("/v1/drivers/me/location", requireRole(jwtSecret, "driver"), async (c) => {
    const update = parse(LOCATION_UPDATE, await readJsonObject(c));
    const city = cityAt(update);
    if (!city) throw new ApiError(422, "outside_service_area", "The position is outside every service area");

    // A device clock ahead of ours must not keep a driver "fresh" after they stop reporting.
    const now = Date.now();
    const recordedAt = Math.min(update.recordedAt?.getTime() ?? now, now);
    const status = update.status ?? "available";
    await drivers.update(city.region, { driverId: c.get("principal").id, lat: update.lat, lng: update.lng, status, recordedAt }, now);
    updates.inc({ region: city.region, status });
    return c.body(null, 202);
  });
}
