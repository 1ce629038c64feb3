// settle-dead-letters' dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { connectTripServices } from "../../shared/trip-services";
import type { SettleDeadLettersDeps } from "./app";

export function connectDependencies(config: Config) {
  const services = connectTripServices(config);
  const { trips, events, drivers } = services;
  const deps: SettleDeadLettersDeps = { trips, events, drivers, staleTripMs: config.staleTripMs };
  return { ...services, deps };
}
