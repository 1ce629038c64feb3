import { loadConfig } from "../../shared/config";
import { sweepSilentDrivers } from "../../shared/drivers/driver-sweeper";
import { serveFunction } from "../../shared/http/server";
import { updateLocationApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const { deps, handles, drivers } = connectDependencies(config);
sweepSilentDrivers(drivers, config);

await serveFunction(updateLocationApp(deps), handles, config);
