import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { sweepSilentDrivers } from "../../shared/drivers/driver-sweeper";
import { LocationEvents } from "../../shared/events/location-events";
import { serveFunction } from "../../shared/http/server";
import { RateLimiter } from "../../shared/rate-limit";
import { updateLocationApp } from "./app";

const config = loadConfig();
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);

const drivers = new DriverIndex(redis, config.driverFreshMs);
sweepSilentDrivers(drivers, config);

await serveFunction(
  updateLocationApp({
    drivers,
    events: new LocationEvents(nats),
    jwtSecret: config.jwtSecret,
    updates: new RateLimiter(redis, "location-updates", config.locationRate, config.rateLimitTimeoutMs),
  }),
  [redisHandle(redis), nats],
  config,
);
