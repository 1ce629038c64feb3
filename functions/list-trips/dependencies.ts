// list-trips' dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { HistoryCursors } from "../../shared/trips/trip-history";
import { TripStore } from "../../shared/trips/trip-store";
import type { ListTripsDeps } from "./app";

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const deps: ListTripsDeps = { trips, cursors: new HistoryCursors(config.jwtSecret), jwtSecret: config.jwtSecret };
  return { deps, handles: trips.handles(), trips };
}
