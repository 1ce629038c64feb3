// settle-dead-letters' dependencies, built in one place for its index.ts and its test.
import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { TripStore } from "../../shared/trips/trip-store";
import type { SettleDeadLettersDeps } from "./app";

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const nats = Nats.connect(config);
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const deps: SettleDeadLettersDeps = { trips, events: new TripEvents(nats), drivers, staleTripMs: config.staleTripMs };
  return { deps, handles: [...trips.handles(), redisHandle(redis), ...nats.handles()], trips, nats, drivers };
}
