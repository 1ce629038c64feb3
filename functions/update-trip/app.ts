import { Hono } from "hono";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { ApiError, tripNotFound } from "../../shared/http/errors";
import { TRIP_ACTIONS, type TripAction } from "../../shared/trips/state-machine";
import type { TripLifecycle } from "../../shared/trip-lifecycle";

export interface UpdateTripDeps {
  lifecycle: TripLifecycle;
  jwtSecret: string;
}

export function updateTripApp({ lifecycle, jwtSecret }: UpdateTripDeps) {
  return new Hono<AuthEnv>().post(
    `/v1/trips/:id/:action{${TRIP_ACTIONS.join("|")}}`,
    requireRole(jwtSecret, "rider", "driver"),
    async (c) => {
      const id = c.req.param("id");
      const action = c.req.param("action") as TripAction;
      const principal = c.get("principal");
      const outcome = await lifecycle.apply(id, action, principal);
      if (outcome.kind === "forbidden") throw new ApiError(403, "forbidden", `Only the trip's ${outcome.by} may ${action} it`);
      // Someone else's trip answers exactly like a missing one, as in get-trip.
      if (outcome.kind === "not_found") throw tripNotFound(id);
      if (outcome.kind === "conflict") {
        const { status } = outcome.trip;
        throw new ApiError(409, "illegal_transition", `Cannot ${action} a trip that is ${status}`, [{ field: "status", issue: status }]);
      }
      if (outcome.replayed) c.header("Idempotent-Replayed", "true");
      return c.json(outcome.trip);
    },
  );
}
