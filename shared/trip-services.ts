// What every function that moves trips along connects to: the trip shards, the geo-index and the TRIPS stream.
// assign-driver, update-trip and settle-dead-letters each build their dependencies on it.
import { Nats } from "./clients/nats";
import { connectRedis, redisHandle } from "./clients/redis";
import type { Config } from "./config";
import { DriverIndex } from "./drivers/driver-index";
import { TripEvents } from "./events/trip-events";
import { TripStore } from "./trips/trip-store";

export function connectTripServices(config: Config) {
  const trips = TripStore.connect(config);
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const nats = Nats.connect(config);
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const events = new TripEvents(nats);
  return { trips, nats, drivers, events, handles: [...trips.handles(), redisHandle(redis), ...nats.handles()] };
}
