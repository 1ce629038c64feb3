// update-trip's dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { TripLifecycle } from "../../shared/trip-lifecycle";
import { connectTripServices } from "../../shared/trip-services";
import type { UpdateTripDeps } from "./app";

export function connectDependencies(config: Config) {
  const services = connectTripServices(config);
  const { trips, drivers, events } = services;
  const deps: UpdateTripDeps = { lifecycle: new TripLifecycle(trips, drivers, events), jwtSecret: config.jwtSecret };
  return { ...services, deps };
}
