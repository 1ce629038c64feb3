// Location-update flood: DRIVERS drivers around Ho Chi Minh City report their position, each every
// INTERVAL seconds, ramped up to the full rate (DRIVERS / INTERVAL updates per second) and held there.
// DRIVERS defaults to 2,500 locally (250/s, PROFILE=local) and 50,000 on a cluster (5,000/s, PROFILE=cluster).
import exec from "k6/execution";
import { reportLocation } from "./lib/drivers.js";
import { setting } from "./lib/config.js";
import { TREND_STATS, summaryWriter } from "./lib/summary.js";

const DRIVERS = Number(setting("DRIVERS", { local: 2500, cluster: 50000 }));
const INTERVAL_S = Number(__ENV.INTERVAL || 10);
const RATE = Math.ceil(DRIVERS / INTERVAL_S);
const SPREAD_M = 8000;

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    flood: {
      executor: "ramping-arrival-rate",
      startRate: 0,
      timeUnit: "1s",
      preAllocatedVUs: 100,
      maxVUs: 1000,
      stages: [
        { duration: "15s", target: RATE },
        { duration: __ENV.DURATION || "60s", target: RATE },
        { duration: "5s", target: 0 },
      ],
    },
  },
  thresholds: {
    "http_req_duration{name:update-location}": ["p(95)<10", "p(99)<25"],
    http_req_failed: ["rate<0.001"],
    checks: ["rate>0.999"],
    dropped_iterations: ["count==0"],
  },
};

export default function () {
  reportLocation(exec.scenario.iterationInTest, DRIVERS, SPREAD_M, 0.0004);
}

export const handleSummary = summaryWriter("location-flood");
