import { Hono } from "hono";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError } from "../../shared/http/errors";
import { isParticipant } from "../../shared/trips/trip";
import { regionOfTripId } from "../../shared/trips/trip-id";
import type { TripStore } from "../../shared/trips/trip-store";

export interface GetTripDeps {
  trips: TripStore;
  jwtSecret: string;
}

export function getTripApp({ trips, jwtSecret }: GetTripDeps) {
  return new Hono<AuthEnv>().get("/v1/trips/:id", requireRole(jwtSecret, "rider", "driver"), async (c) => {
    const id = c.req.param("id");
    // Someone else's trip answers exactly like a missing one, so ids cannot be probed.
    const trip = regionOfTripId(id) ? await trips.get(id, { mayLag: true }) : undefined;
    if (!trip || !isParticipant(trip, c.get("principal"))) throw new ApiError(404, "trip_not_found", `No trip ${id} for this user`);
    return c.json(trip);
  });
}
