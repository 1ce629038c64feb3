import { Hono } from "hono";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import type { HistoryCursors } from "../../shared/trips/trip-history";
import type { TripStore } from "../../shared/trips/trip-store";
import { integer, optional, parseQuery, text } from "../../shared/validation";

// A cursor is about 120 characters; anything much longer is not one.
const LIST_QUERY = {
  limit: optional(integer(1, 100)),
  cursor: optional(text(256)),
};

export interface ListTripsDeps {
  trips: TripStore;
  cursors: HistoryCursors;
  jwtSecret: string;
}

export function listTripsApp({ trips, cursors, jwtSecret }: ListTripsDeps) {
  return new Hono<AuthEnv>().get("/v1/trips", requireRole(jwtSecret, "rider", "driver"), async (c) => {
    const principal = c.get("principal");
    const query = parseQuery(LIST_QUERY, c.req.query());
    const before = query.cursor === undefined ? undefined : cursors.decode(principal, query.cursor);

    const page = await trips.history(principal, query.limit ?? 20, before);
    return c.json({ items: page.trips, ...(page.next && { nextCursor: cursors.encode(principal, page.next) }) });
  });
}
