import { Hono } from "hono";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { tripNotFound } from "../../shared/http/errors";
import type { TripStore } from "../../shared/trips/trip-store";

export interface GetTripDeps {
  trips: TripStore;
  jwtSecret: string;
}

export function getTripApp({ trips, jwtSecret }: GetTripDeps) {
  return new Hono<AuthEnv>().get("/v1/trips/:id", requireRole(jwtSecret, "rider", "driver"), async (c) => {
    const id = c.req.param("id");
    const trip = await trips.getForParticipant(id, c.get("principal"), { mayLag: true });
    if (!trip) throw tripNotFound(id);
    return c.json(trip);
  });
}
