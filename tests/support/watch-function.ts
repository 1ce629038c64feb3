// watch-trip served on a port of its own as its index.ts serves it, with what a test needs to change trips around it:
// the store, the lifecycle of update-trip and the events assign-driver publishes.
import { connectRedis } from "../../shared/clients/redis";
import { Nats } from "../../shared/clients/nats";
import { loadConfig, type Config } from "../../shared/config";
import { DriverIndex } from "../../shared/drivers/driver-index";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction, type RunningFunction } from "../../shared/http/server";
import type { Principal } from "../../shared/principal";
import { TripLifecycle } from "../../shared/trip-lifecycle";
import type { TripAction } from "../../shared/trips/state-machine";
import type { Trip } from "../../shared/trips/trip";
import { newTripId } from "../../shared/trips/trip-id";
import { TripStore } from "../../shared/trips/trip-store";
import { HCMC, tripRequest } from "../../harness/places";
import { watchTripApp } from "../../functions/watch-trip/app";
import { connectDependencies } from "../../functions/watch-trip/dependencies";

const base = loadConfig();

export interface Running {
  url: string;
  fn: RunningFunction;
  trips: TripStore;
  publish: TripEvents;
  publisher: Nats;
  lifecycle: TripLifecycle;
  close(): Promise<void>;
}

export async function startWatchTrip(overrides: Partial<Config> = {}): Promise<Running> {
  const config: Config = { ...base, port: 0, host: "127.0.0.1", serviceName: "watch-trip", ...overrides };
  const wired = connectDependencies(config);
  const fn = await serveFunction(watchTripApp(wired.deps), wired.handles, config, wired.serving);
  const publisher = Nats.connect({ ...config, serviceName: "watch-trip-test-publisher" });
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  const trips = TripStore.connect(config);
  const publish = new TripEvents(publisher);
  await Promise.all([publisher.connected, wired.nats.connected]);
  // The feed subscribes once NATS answers; a flush makes sure the server has the subscription.
  await wired.nats.ping();
  return {
    url: `http://127.0.0.1:${fn.port}`,
    fn,
    trips,
    publish,
    publisher,
    lifecycle: new TripLifecycle(trips, new DriverIndex(redis, config.driverFreshMs), publish),
    close: async () => {
      await fn.shutdown();
      await Promise.all([publisher.close(), redis.quit(), ...trips.handles().map((handle) => handle.close())]);
    },
  };
}

export async function book(on: Running, riderId: string): Promise<Trip> {
  const request = { ...tripRequest(HCMC), serviceId: "car" as const };
  return (await on.trips.create("vn", { ...request, id: newTripId("vn"), riderId })).trip;
}

/** What assign-driver does: the trip becomes the driver's, then the event goes out. */
export async function assign(on: Running, trip: Trip, driverId: string): Promise<Trip> {
  const assigned = (await on.trips.assign(trip.id, driverId))!;
  await on.publish.publish("assigned", assigned, { occurrence: driverId });
  return assigned;
}

/** What update-trip does. */
export async function act(on: Running, trip: Trip, action: TripAction, actor: Principal): Promise<Trip> {
  const outcome = await on.lifecycle.apply(trip.id, action, actor);
  if (outcome.kind !== "done") throw new Error(`${action} was ${outcome.kind}`);
  return outcome.trip;
}
