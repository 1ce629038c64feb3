import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { TripStore } from "../../shared/trips/trip-store";
import { getTripApp } from "./app";

const config = loadConfig();
const trips = TripStore.connect(config);

await serveFunction(getTripApp({ trips, jwtSecret: config.jwtSecret }), trips.handles(), config);
