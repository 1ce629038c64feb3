// Riders watching their trips: each books a trip, opens watch-trip's WebSocket (the token as ?token=, as a browser
// must), and follows it: the current state at once, then the assignment, then the cancel the rider sends once a driver
// is there (or once MATCH_TIMEOUT_MS has passed without one), after which the server closes the socket. Drivers report
// all along, so that trips are matched.
//
// watch_push_latency is each change's arrival minus its `timestamp` (when the change was published to JetStream, by
// the server's clock): the push latency the UIT-Go clients' WebSocket test measures. It is only meaningful when k6's
// clock and the cluster's agree (the in-cluster k6 Job, or k6 beside `npm start`). watch_snapshot_time is the time
// from opening the socket to the current state.
//
// PROFILE=local (the default, `npm start`): 5 riders/s; PROFILE=cluster: 50 riders/s.
import exec from "k6/execution";
import { check } from "k6";
import { Counter, Trend } from "k6/metrics";
import { setTimeout, clearTimeout } from "k6/timers";
import { WebSocket } from "k6/websockets";
import { mintToken } from "./lib/auth.js";
import { pointNearCentre, tripRequest } from "./lib/city.js";
import { BASE_URL, hostOf, setting } from "./lib/config.js";
import { driverReportsOf, driversScenario } from "./lib/drivers.js";
import { TREND_STATS, summaryWriter } from "./lib/summary.js";
import { act, book } from "./lib/trips.js";

const RATE = Number(setting("RATE", { local: 5, cluster: 50 }));
const DURATION = __ENV.DURATION || "60s";
const DRIVERS = Number(__ENV.DRIVERS || 500);
const MATCH_TIMEOUT_MS = Number(__ENV.MATCH_TIMEOUT_MS || 30000);
// A watch that has not ended this long after it opened is cut and counted.
const WATCH_TIMEOUT_MS = MATCH_TIMEOUT_MS + 10000;
const TERMINAL = ["completed", "cancelled", "no_driver"];

const pushLatency = new Trend("watch_push_latency", true);
const snapshotTime = new Trend("watch_snapshot_time", true);
const unfinished = new Counter("watches_unfinished");

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    drivers: driversScenario(DRIVERS, DURATION),
    riders: {
      executor: "constant-arrival-rate",
      exec: "rider",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      // A VU is busy for a whole watch (matching plus the cancel), a few seconds.
      preAllocatedVUs: 20,
      maxVUs: 1000,
    },
  },
  thresholds: {
    // Each change within 100 ms of its publication, as the product promises.
    watch_push_latency: ["p(95)<50", "p(99)<100"],
    watch_snapshot_time: ["p(95)<500", "p(99)<1000"],
    "checks{check:watch ended after a terminal state}": ["rate>0.99"],
    watches_unfinished: ["count<5"],
    dropped_iterations: ["count<10"],
  },
};

export const driverReports = driverReportsOf(DRIVERS);

export function rider() {
  // A rider per watch, each with a trip of their own (one active trip per rider).
  const riderId = `k6-watcher-${exec.scenario.iterationInTest}`;
  const token = mintToken(riderId, "rider");
  const trip = book(token, tripRequest(pointNearCentre(2000)));
  if (!trip) return;

  const openedAt = Date.now();
  const ws = new WebSocket(`${BASE_URL.replace(/^http/, "ws")}/v1/trips/${trip.id}/ws?token=${token}`, null, {
    headers: { Host: hostOf("watch-trip") },
    tags: { name: "watch-trip" },
  });
  let last;
  let cancelled = false;
  const cancel = () => {
    if (cancelled || (last && TERMINAL.includes(last.status))) return;
    cancelled = true;
    act(trip, "cancel", "rider", riderId);
  };
  const matchTimer = setTimeout(cancel, MATCH_TIMEOUT_MS);
  const watchTimer = setTimeout(() => {
    unfinished.add(1);
    ws.close();
  }, WATCH_TIMEOUT_MS);

  ws.onmessage = (event) => {
    const update = JSON.parse(event.data);
    if (update.type === "snapshot" && !last) snapshotTime.add(Date.now() - openedAt);
    else pushLatency.add(Date.now() - Date.parse(update.timestamp), { type: update.type });
    last = update;
    // The rider cancels once a driver is on the way; that frees the driver for the next rider.
    if (update.status === "assigned") cancel();
  };
  ws.onclose = () => {
    clearTimeout(matchTimer);
    clearTimeout(watchTimer);
    check(last, { "watch ended after a terminal state": (u) => u !== undefined && TERMINAL.includes(u.status) });
  };
  ws.onerror = () => {
    // A refused handshake or a dropped connection: the close that follows records the check.
  };
}

export const handleSummary = summaryWriter("watch");
