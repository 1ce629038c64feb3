import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { sweepSilentDrivers } from "../../shared/drivers/driver-sweeper";
import { serveFunction } from "../../shared/http/server";
import { searchDriversApp } from "./app";

const config = loadConfig();
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);

const drivers = new DriverIndex(redis, config.driverFreshMs);
sweepSilentDrivers(drivers, config);

await serveFunction(
  searchDriversApp({ drivers, jwtSecret: config.jwtSecret }),
  [redisHandle(redis)],
  config,
);
