import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { getTripApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles } = connectDependencies(config);

await serveFunction(getTripApp(deps), handles, config);
