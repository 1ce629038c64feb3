import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { createTripApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles } = connectDependencies(config);

await serveFunction(createTripApp(deps), handles, config);
