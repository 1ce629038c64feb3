import { loadConfig } from "../../shared/config";
import { LocationHistory } from "../../shared/drivers/location-history";
import { serveFunction } from "../../shared/http/server";
import { recordLocationsApp } from "./app";

const config = loadConfig();
const history = LocationHistory.connect(config);

await serveFunction(recordLocationsApp({ history }), history.handles(), config, { internal: true });
