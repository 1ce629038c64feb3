// watch-trip's dependencies, built in one place for its index.ts and its test.
import { Nats } from "../../shared/clients/nats";
import type { Config } from "../../shared/config";
import { TripFeed } from "../../shared/events/trip-feed";
import type { ServeExtras } from "../../shared/http/server";
import { WebSockets } from "../../shared/http/websocket";
import { TripStore } from "../../shared/trips/trip-store";
import type { WatchTripDeps } from "./app";

/** How long a draining process waits for its WebSockets to finish their closing handshakes. */
const WEBSOCKET_CLOSE_GRACE_MS = 1_000;

export function connectDependencies(config: Config) {
  const trips = TripStore.connect(config);
  const nats = Nats.connect(config);
  const feed = new TripFeed(nats, trips);
  const webSockets = new WebSockets();
  const deps: WatchTripDeps = { feed, jwtSecret: config.jwtSecret, heartbeatMs: config.watchHeartbeatMs };
  // Every watcher is told to go (an event stream ends, a WebSocket closes with 1001) so that the drain need not wait.
  const serving: ServeExtras = {
    upgrade: webSockets.upgrade,
    onDrain: async () => {
      feed.closeAll();
      await webSockets.closed(WEBSOCKET_CLOSE_GRACE_MS);
    },
  };
  return { deps, handles: [...trips.handles(), ...nats.handles()], serving, feed, trips, nats, webSockets };
}
