import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction } from "../../shared/http/server";
import { Matcher } from "../../shared/matching";
import { TripStore } from "../../shared/trips/trip-store";
import { assignDriverApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);
const matcher = new Matcher(trips, new DriverIndex(redis, config.driverFreshMs), new TripEvents(nats), {
  radiusMeters: config.matchRadiusMeters,
  deadlineMs: config.matchDeadlineMs,
});

await serveFunction(assignDriverApp({ matcher }), [...trips.handles(), redisHandle(redis), nats], config, { internal: true });
