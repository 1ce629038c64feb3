import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { homeApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles } = connectDependencies(config);

await serveFunction(homeApp(deps), handles, config);
