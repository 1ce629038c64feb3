import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction } from "../../shared/http/server";
import { TripLifecycle } from "../../shared/trip-lifecycle";
import { TripStore } from "../../shared/trips/trip-store";
import { updateTripApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);
const lifecycle = new TripLifecycle(trips, new DriverIndex(redis, config.driverFreshMs), new TripEvents(nats));

await serveFunction(updateTripApp({ lifecycle, jwtSecret: config.jwtSecret }), [...trips.handles(), redisHandle(redis), nats], config);
