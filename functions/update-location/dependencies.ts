// update-location's dependencies, built in one place for its index.ts and its test.
import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { LocationEvents } from "../../shared/events/location-events";
import { RateLimiter } from "../../shared/rate-limit";
import type { UpdateLocationDeps } from "./app";

export function connectDependencies(config: Config) {
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const nats = Nats.connect(config);
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const deps: UpdateLocationDeps = {
    drivers,
    events: new LocationEvents(nats),
    jwtSecret: config.jwtSecret,
    updates: new RateLimiter(redis, "location-updates", config.locationRate, config.rateLimitTimeoutMs),
  };
  return { deps, handles: [redisHandle(redis), ...nats.handles()], redis, nats, drivers };
}
