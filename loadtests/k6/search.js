// Steady driver search: riders around Ho Chi Minh City's centre look for the nearest drivers at a constant
// arrival rate (open model: a slow answer does not slow the arrivals down).
//
// Needs available drivers near the centre: `npm start` has 40; for a dense city, run location-flood.js
// first or alongside (drivers stay available for 30 s after their last report). RATE defaults to 25/s locally
// (PROFILE=local, measured beside a 250/s location flood on one 2-core machine) and 500/s on a cluster (PROFILE=cluster).
import http from "k6/http";
import { check } from "k6";
import { mintToken } from "./lib/auth.js";
import { pointNearCentre } from "./lib/city.js";
import { params, setting, url } from "./lib/config.js";
import { TREND_STATS, summaryWriter } from "./lib/summary.js";

const RATE = Number(setting("RATE", { local: 25, cluster: 500 }));

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    search: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: __ENV.DURATION || "60s",
      preAllocatedVUs: 50,
      maxVUs: 500,
    },
  },
  thresholds: {
    // The SLA: answers within 10 ms for 99 % of searches, no failures.
    "http_req_duration{name:search-drivers}": ["p(95)<5", "p(99)<10"],
    http_req_failed: ["rate<0.001"],
    checks: ["rate>0.999"],
    // Arrivals k6 could not start for lack of VUs would hide a slow server.
    dropped_iterations: ["count==0"],
  },
};

export function setup() {
  return { token: mintToken("k6-rider", "rider", 24 * 3600) };
}

export default function (data) {
  const p = pointNearCentre(3000);
  const res = http.get(
    url(`/v1/drivers/search?lat=${p.lat.toFixed(6)}&lng=${p.lng.toFixed(6)}&radius=3000&limit=10`),
    params("search-drivers", data.token),
  );
  check(res, { "search answered 200": (r) => r.status === 200 });
}

export const handleSummary = summaryWriter("search");
