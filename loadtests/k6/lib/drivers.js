// A driver app's location report: driver i of `count` reports from near its home spot, with a token minted
// once per VU and driver (a VU stands in for many drivers over a run).
import exec from "k6/execution";
import http from "k6/http";
import { check } from "k6";
import { mintToken } from "./auth.js";
import { driverHome } from "./city.js";
import { params, url } from "./config.js";

const tokens = {};

export function reportLocation(i, count, spreadMeters, jitterDegrees = 0) {
  const id = `k6-driver-${i % count}`;
  if (!tokens[id]) tokens[id] = mintToken(id, "driver", 24 * 3600);
  const home = driverHome(i, count, spreadMeters);
  const jitter = () => (Math.random() - 0.5) * jitterDegrees;
  const body = JSON.stringify({ lat: home.lat + jitter(), lng: home.lng + jitter(), heading: 90, speed: 8, status: "available" });
  const res = http.post(url("/v1/drivers/me/location"), body, params("update-location", tokens[id]));
  check(res, { "location accepted (202)": (r) => r.status === 202 });
}

/** How often a driver's app reports, seconds. */
const REPORT_INTERVAL_S = 10;

/** A scenario of `count` drivers, each reporting every REPORT_INTERVAL_S, run by the script's `driverReports`. */
export function driversScenario(count, duration) {
  return {
    executor: "constant-arrival-rate",
    exec: "driverReports",
    rate: Math.ceil(count / REPORT_INTERVAL_S),
    timeUnit: "1s",
    duration,
    preAllocatedVUs: 10,
    maxVUs: 200,
  };
}

/** The `driverReports` of driversScenario: each iteration is the next driver's report from near its home spot. */
export function driverReportsOf(count) {
  return () => reportLocation(exec.scenario.iterationInTest, count, 4000);
}
