// Location-update flood: DRIVERS drivers around Ho Chi Minh City report their position, each every
// INTERVAL seconds, ramped up to the full rate (DRIVERS / INTERVAL updates per second) and held there.
import http from "k6/http";
import { check } from "k6";
import exec from "k6/execution";
import { mintToken } from "./lib/auth.js";
import { driverHome } from "./lib/city.js";
import { params, url } from "./lib/config.js";
import { TREND_STATS, summaryWriter } from "./lib/summary.js";

const DRIVERS = Number(__ENV.DRIVERS || 50000);
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

// Tokens are minted once per VU and driver, on first use: a VU serves many drivers over the run.
const tokens = {};

export default function () {
  const i = exec.scenario.iterationInTest % DRIVERS;
  const id = `k6-driver-${i}`;
  if (!tokens[id]) tokens[id] = mintToken(id, "driver", 24 * 3600);
  const home = driverHome(i, DRIVERS, SPREAD_M);
  const jitter = () => (Math.random() - 0.5) * 0.0004;
  const body = JSON.stringify({ lat: home.lat + jitter(), lng: home.lng + jitter(), heading: 90, speed: 8, status: "available" });
  const res = http.post(url("/v1/drivers/me/location"), body, params("update-location", tokens[id]));
  check(res, { "location accepted (202)": (r) => r.status === 202 });
}

export const handleSummary = summaryWriter("location-flood");
