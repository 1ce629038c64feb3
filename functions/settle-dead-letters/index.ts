import { Nats } from "../../shared/clients/nats";
import { loadConfig } from "../../shared/config";
import { TripEvents } from "../../shared/events/trip-events";
import { serveFunction } from "../../shared/http/server";
import { TripStore } from "../../shared/trips/trip-store";
import { settleDeadLettersApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);

await serveFunction(settleDeadLettersApp({ trips, events: new TripEvents(nats) }), [...trips.handles(), nats], config);
