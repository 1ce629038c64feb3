// create-trip's dependencies, built in one place for its index.ts and its test.
import { Nats } from "../../shared/clients/nats";
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { TripEvents } from "../../shared/events/trip-events";
import { RateLimiter } from "../../shared/rate-limit";
import { TripStore } from "../../shared/trips/trip-store";
import type { CreateTripDeps } from "./app";

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const nats = Nats.connect(config);
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const deps: CreateTripDeps = {
    trips,
    events: new TripEvents(nats),
    jwtSecret: config.jwtSecret,
    bookings: new RateLimiter(redis, "bookings", config.bookingRate, config.rateLimitTimeoutMs),
    ...(config.maxActiveTripsPerRider > 0 && { maxActiveTrips: config.maxActiveTripsPerRider }),
  };
  // Booking goes on without the limiter's Redis (it fails open), so Redis is not needed for readiness.
  return { deps, handles: [...trips.handles(), ...nats.handles(), { ...redisHandle(redis), optional: true }], trips, nats };
}
