// assign-driver's dependencies, built in one place for its index.ts and its test.
import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { Matcher } from "../../shared/matching";
import { TripStore } from "../../shared/trips/trip-store";
import type { AssignDriverDeps } from "./app";

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const nats = Nats.connect(config);
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const events = new TripEvents(nats);
  const deps: AssignDriverDeps = {
    matcher: new Matcher(trips, drivers, events, { radiusMeters: config.matchRadiusMeters, deadlineMs: config.matchDeadlineMs }),
  };
  return { deps, handles: [...trips.handles(), redisHandle(redis), ...nats.handles()], trips, nats, drivers, events };
}
