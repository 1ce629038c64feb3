import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction } from "../../shared/http/server";
import { RateLimiter } from "../../shared/rate-limit";
import { TripStore } from "../../shared/trips/trip-store";
import { createTripApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);
const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);

await serveFunction(
  createTripApp({
    trips,
    events: new TripEvents(nats),
    jwtSecret: config.jwtSecret,
    bookings: new RateLimiter(redis, "bookings", config.bookingRate, config.rateLimitTimeoutMs),
    ...(config.maxActiveTripsPerRider > 0 && { maxActiveTrips: config.maxActiveTripsPerRider }),
  }),
  // Booking goes on without the limiter's Redis (it fails open), so Redis is not needed for readiness.
  [...trips.handles(), nats, { ...redisHandle(redis), optional: true }],
  config,
);
