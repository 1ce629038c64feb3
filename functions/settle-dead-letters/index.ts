import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction } from "../../shared/http/server";
import { TripStore } from "../../shared/trips/trip-store";
import { settleDeadLettersApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);
const drivers = new DriverIndex(redis, config.driverFreshMs);

await serveFunction(settleDeadLettersApp({ trips, events: new TripEvents(nats), drivers, staleTripMs: config.staleTripMs }), [...trips.handles(), redisHandle(redis), nats], config, { internal: true });
