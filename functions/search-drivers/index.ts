import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { serveFunction } from "../../shared/http/server";
import { searchDriversApp } from "./app";

const config = loadConfig();
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);

await serveFunction(
  searchDriversApp({ drivers: new DriverIndex(redis, config.driverFreshMs), jwtSecret: config.jwtSecret }),
  [redisHandle(redis)],
  config,
);
