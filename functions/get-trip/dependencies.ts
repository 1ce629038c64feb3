// get-trip's dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { TripStore } from "../../shared/trips/trip-store";
import type { GetTripDeps } from "./app";

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const deps: GetTripDeps = { trips, jwtSecret: config.jwtSecret };
  return { deps, handles: trips.handles(), trips };
}
