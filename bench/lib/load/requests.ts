// What each scenario sends: one factory per kind of request, every request a little different (another
// pickup, another driver), with tokens minted before the clock starts.
import { signToken } from "../../../shared/tokens";
import { tripRequest } from "../../../harness/places";
import { DRIVER_COUNT, driverId, driverPositions, pickup } from "../city";
import { HISTORY_RIDERS, historyRider } from "../histories";
import type { HttpRequest } from "./connection";

export const REQUEST_KINDS = ["hello", "search-drivers", "update-location", "create-trip", "list-trips", "home"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface RequestFactory {
  next(): HttpRequest;
  /** The status a correct answer has; anything else counts as an error. */
  expected: number;
}

const TOKEN_TTL_S = 3600;
const RIDERS = 10_000;

export function requestFactory(kind: RequestKind, jwtSecret: string): RequestFactory {
  const bearer = (role: "rider" | "driver", id: string) => `Bearer ${signToken(jwtSecret, { id, role }, TOKEN_TTL_S)}`;
  switch (kind) {
    case "hello":
      return { expected: 200, next: () => ({ method: "GET", path: "/hello", headers: {} }) };

    case "search-drivers": {
      const headers = { authorization: bearer("rider", "bench-rider") };
      return {
        expected: 200,
        next: () => {
          const { lat, lng } = pickup();
          return { method: "GET", path: `/v1/drivers/search?lat=${lat.toFixed(6)}&lng=${lng.toFixed(6)}&radius=3000&limit=10`, headers };
        },
      };
    }

    case "update-location": {
      // Every one of the city's drivers reports in turn, each with its own token, a few metres from where it was.
      const positions = driverPositions();
      const tokens = positions.map((_, i) => bearer("driver", driverId(i)));
      let i = 0;
      return {
        expected: 202,
        next: () => {
          const driver = i++ % DRIVER_COUNT;
          const { lat, lng } = positions[driver]!;
          const jitter = () => (Math.random() - 0.5) * 0.0002;
          return {
            method: "POST",
            path: "/v1/drivers/me/location",
            headers: { authorization: tokens[driver]!, "content-type": "application/json" },
            body: JSON.stringify({ lat: lat + jitter(), lng: lng + jitter(), heading: 90, speed: 8, status: "available" }),
          };
        },
      };
    }

    case "home": {
      // The home screen's news, each request with the next of the 50 limits (50 cache keys): requests in flight at once
      // ask for different keys, so each is its own cache read or PostgreSQL read instead of sharing another's.
      const headers = { authorization: bearer("rider", "bench-rider") };
      let i = 0;
      return { expected: 200, next: () => ({ method: "GET", path: `/v1/news?limit=${1 + (i++ % 50)}`, headers }) };
    }

    case "create-trip": {
      const tokens = Array.from({ length: RIDERS }, (_, i) => bearer("rider", `bench-rider-${i}`));
      let i = 0;
      return {
        expected: 201,
        next: () => ({
          method: "POST",
          path: "/v1/trips",
          headers: { authorization: tokens[i++ % RIDERS]!, "content-type": "application/json" },
          body: JSON.stringify(tripRequest(pickup())),
        }),
      };
    }

    case "list-trips": {
      // Each seeded rider opens their history in turn: the first page, merged from both shards.
      const tokens = Array.from({ length: HISTORY_RIDERS }, (_, i) => bearer("rider", historyRider(i)));
      let i = 0;
      return {
        expected: 200,
        next: () => ({ method: "GET", path: "/v1/trips?limit=20", headers: { authorization: tokens[i++ % HISTORY_RIDERS]! } }),
      };
    }
  }
}
