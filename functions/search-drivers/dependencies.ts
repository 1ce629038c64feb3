// search-drivers' dependencies, built in one place for its index.ts and its test.
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import type { SearchDriversDeps } from "./app";

export function connectDependencies(config: Config) {
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const drivers = new DriverIndex(redis, config.driverFreshMs);
  const deps: SearchDriversDeps = { drivers, jwtSecret: config.jwtSecret };
  return { deps, handles: [redisHandle(redis)], redis, drivers };
}
