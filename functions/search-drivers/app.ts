import { Hono } from "hono";
import type { DriverIndex } from "../../shared/drivers/driver-index";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError } from "../../shared/http/errors";
import { counter } from "../../shared/metrics";
import { cityAt } from "../../shared/regions";
import { integer, latitude, longitude, number, optional, parseQuery } from "../../shared/validation";

const SEARCH_QUERY = {
  lat: latitude(),
  lng: longitude(),
  radius: optional(number(1, 10_000)),
  limit: optional(integer(1, 50)),
};

const searches = counter("uitgo_driver_searches_total", "Driver searches, by region and whether any driver was found", ["region", "found"]);

export interface SearchDriversDeps {
  drivers: DriverIndex;
  jwtSecret: string;
}

export function searchDriversApp({ drivers, jwtSecret }: SearchDriversDeps) {
  return new Hono<AuthEnv>().get("/v1/drivers/search", requireRole(jwtSecret, "rider"), async (c) => {
    const query = parseQuery(SEARCH_QUERY, c.req.query());
    const city = cityAt(query);
    if (!city) throw new ApiError(422, "outside_service_area", "The search point is outside every service area");

    const items = await drivers.search(city.region, {
      lat: query.lat,
      lng: query.lng,
      radiusMeters: query.radius ?? 3000,
      limit: query.limit ?? 10,
    });
    searches.inc({ region: city.region, found: String(items.length > 0) });
    return c.json({ items });
  });
}
