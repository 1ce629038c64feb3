// assign-driver's dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { Matcher } from "../../shared/matching";
import { connectTripServices } from "../../shared/trip-services";
import type { AssignDriverDeps } from "./app";

export function connectDependencies(config: Config) {
  const services = connectTripServices(config);
  const { trips, drivers, events } = services;
  const deps: AssignDriverDeps = {
    matcher: new Matcher(trips, drivers, events, { radiusMeters: config.matchRadiusMeters, deadlineMs: config.matchDeadlineMs }),
  };
  return { ...services, deps };
}
