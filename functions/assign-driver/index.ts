import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { assignDriverApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles } = connectDependencies(config);

await serveFunction(assignDriverApp(deps), handles, config, { internal: true });
