import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { watchTripApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles, serving } = connectDependencies(config);

await serveFunction(watchTripApp(deps), handles, config, serving);
