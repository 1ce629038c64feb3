import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { listTripsApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles } = connectDependencies(config);

await serveFunction(listTripsApp(deps), handles, config);
