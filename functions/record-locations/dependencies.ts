// record-locations' dependencies, built in one place for its index.ts and its test.
import type { Config } from "../../shared/config";
import { LocationHistory } from "../../shared/drivers/location-history";
import type { RecordLocationsDeps } from "./app";

export function connectDependencies(config: Config) {
  const history = LocationHistory.connect(config);
  const deps: RecordLocationsDeps = { history };
  return { deps, handles: history.handles(), history };
}
