// A booking spike from zero: after IDLE with no rider traffic (long enough for Knative to scale
// create-trip, get-trip, update-trip and assign-driver to zero: with a 20 s stable window and the activator
// always in front of them, their pods go 20-25 s after the last request; 60 s leaves room for the pods'
// termination), bookings rise from nothing to PEAK per second within RAMP and stay there. Drivers keep reporting
// all along, as they would. Each booking is polled until assigned (custom metric booked_to_assigned), then
// cancelled by the rider, which gives the driver back.
//
// Locally (`npm start`, nothing scales to zero; PROFILE=local, the default) there is no wait and the peak is
// 100 bookings/s, what one 2-core machine holds with k6 beside it; PROFILE=cluster waits 60 s and peaks at 200/s.
import { sleep } from "k6";
import exec from "k6/execution";
import { Counter } from "k6/metrics";
import { mintToken } from "./lib/auth.js";
import { pointNearCentre, tripRequest } from "./lib/city.js";
import { setting } from "./lib/config.js";
import { reportLocation } from "./lib/drivers.js";
import { TREND_STATS, summaryWriter } from "./lib/summary.js";
import { act, awaitDriver, book } from "./lib/trips.js";

const IDLE = setting("IDLE", { local: "0s", cluster: "60s" });
const PEAK = Number(setting("PEAK", { local: 100, cluster: 200 }));
const RAMP = __ENV.RAMP || "5s";
const HOLD = __ENV.HOLD || "60s";
const DRIVERS = Number(__ENV.DRIVERS || 3000);
const DRIVER_INTERVAL_S = 10;
// The first seconds of the spike meet cold functions; they are reported apart from the rest.
const COLD_PHASE_MS = Number(__ENV.COLD_PHASE_MS || 15000);

const unmatched = new Counter("trips_unmatched");

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    drivers: {
      executor: "constant-arrival-rate",
      exec: "driverReports",
      rate: Math.ceil(DRIVERS / DRIVER_INTERVAL_S),
      timeUnit: "1s",
      duration: __ENV.TOTAL || "180s",
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
    spike: {
      executor: "ramping-arrival-rate",
      exec: "rider",
      startTime: IDLE,
      startRate: 0,
      timeUnit: "1s",
      preAllocatedVUs: 200,
      maxVUs: 3000,
      stages: [
        { duration: RAMP, target: PEAK },
        { duration: HOLD, target: PEAK },
        { duration: "10s", target: 0 },
      ],
    },
  },
  thresholds: {
    // From zero: the first bookings wait for a cold start; they must still be answered, and soon.
    "booked_to_assigned{phase:cold}": ["p(95)<3000", "p(99)<5000"],
    // Once warm: assigned within a few polls.
    "booked_to_assigned{phase:warm}": ["p(95)<300", "p(99)<500"],
    "http_req_duration{name:create-trip}": ["p(99)<3000"],
    "http_req_failed{scenario:spike}": ["rate<0.01"],
    trips_unmatched: ["count<10"],
    dropped_iterations: ["count<10"],
  },
};

export function driverReports() {
  reportLocation(exec.scenario.iterationInTest, DRIVERS, 4000);
}

export function rider() {
  // A rider per booking, as in a real spike: one rider may book 10 trips a minute and have one under way, and a VU
  // books several a second.
  const riderId = `k6-rider-${exec.scenario.iterationInTest}`;
  const token = mintToken(riderId, "rider");
  const phase = Date.now() - exec.scenario.startTime < COLD_PHASE_MS ? "cold" : "warm";
  const sentAt = Date.now();
  const trip = book(token, tripRequest(pointNearCentre(2000)));
  if (!trip) return;
  const current = awaitDriver(trip, token, sentAt, { phase });
  if (current.status !== "assigned") {
    unmatched.add(1);
    return;
  }
  act(current, "cancel", "rider", riderId);
  sleep(0.1);
}

export const handleSummary = summaryWriter("booking-spike");
