// The overview: what riders and drivers get from UIT-Go. Requests, latency and errors per function from
// each function's own /metrics, then the product's counters: bookings, matching, location updates,
// dependencies that did not answer, and messages given up on.
import { FUNCTIONS } from "../../../esbuild.config";
import { JOBS, TARGET_LABELS } from "../config";
import type { BoardSpec } from "../grafana";
import { increase, notRe, quantile, rate, re, sumBy, variable, type Matchers } from "../promql";

const FN = TARGET_LABELS.function;

/** Requests the functions serve: not the kubelet's probes nor Prometheus' own scrapes. */
const served: Matchers = { job: JOBS.functions, [FN]: variable("function"), route: notRe("/health/.+|/metrics") };

const REQUESTS = "http_request_duration_seconds_count";
const REQUEST_BUCKETS = "http_request_duration_seconds_bucket";

export function overviewBoard(): BoardSpec {
  return {
    uid: "uitgo-overview",
    title: "UIT-Go / Overview",
    description: "Requests, latency and errors per function, and the product's own counters.",
    variables: [{ name: "function", label: "Function", values: FUNCTIONS }],
    sections: [
      {
        title: "Functions",
        panels: [
          {
            title: "Requests per second",
            description:
              "Requests each function answered, as the function counts them (after Knative's queue-proxy). Probes and scrapes are left out.",
            unit: "reqps",
            queries: [{ expr: sumBy([FN], rate(REQUESTS, served)), legend: `{{${FN}}}` }],
          },
          {
            title: "Latency p50 / p99",
            description:
              "Time inside the function, per function. A cold start's wait is not here: it is spent in front of the pod (see the Scaling board's activator panel).",
            unit: "s",
            queries: [
              { expr: quantile(0.5, REQUEST_BUCKETS, [FN], served), legend: `{{${FN}}} p50` },
              { expr: quantile(0.99, REQUEST_BUCKETS, [FN], served), legend: `{{${FN}}} p99` },
            ],
          },
          {
            title: "5xx and 503 per second",
            description:
              "Server errors per function. 503 with Retry-After is the designed answer when a store does not answer in time; other 5xx are faults.",
            unit: "reqps",
            queries: [
              { expr: sumBy([FN], rate(REQUESTS, { ...served, status: re("5..") })), legend: `{{${FN}}} 5xx` },
              { expr: sumBy([FN], rate(REQUESTS, { ...served, status: "503" })), legend: `{{${FN}}} 503` },
            ],
          },
          {
            title: "Dependency 503s by dependency",
            description:
              "Requests answered 503 because PostgreSQL, Redis or NATS was down or did not answer in time (DEPENDENCY_TIMEOUT_MS; 3 × it for PostgreSQL).",
            unit: "reqps",
            queries: [
              {
                expr: sumBy(["dependency"], rate("uitgo_dependency_unavailable_total", { job: JOBS.functions })),
                legend: "{{dependency}}",
              },
            ],
          },
        ],
      },
      {
        title: "Trips",
        panels: [
          {
            title: "Bookings per second",
            description: "Trips booked by create-trip, by region shard and service tier.",
            unit: "ops",
            queries: [{ expr: sumBy(["region", "service"], rate("uitgo_trips_created_total")), legend: "{{region}} {{service}}" }],
          },
          {
            title: "Booked → assigned p50 / p99",
            description:
              "From the booking to a driver assigned (assign-driver). Grows when matching falls behind its JetStream backlog or scales from zero.",
            unit: "s",
            queries: [
              { expr: quantile(0.5, "uitgo_booked_to_assigned_seconds_bucket", []), legend: "p50" },
              { expr: quantile(0.99, "uitgo_booked_to_assigned_seconds_bucket", []), legend: "p99" },
            ],
          },
          {
            title: "Matching outcomes per second",
            description:
              "What each matching attempt came to: assigned, waiting (tried again later), no_driver (deadline passed), not_requested or trip_not_found.",
            unit: "ops",
            queries: [{ expr: sumBy(["outcome"], rate("uitgo_matching_outcomes_total")), legend: "{{outcome}}" }],
          },
          {
            title: "Driver searches per second",
            description: "search-drivers calls, by region and whether any driver was found nearby.",
            unit: "ops",
            queries: [{ expr: sumBy(["region", "found"], rate("uitgo_driver_searches_total")), legend: "{{region}} found={{found}}" }],
          },
        ],
      },
      {
        title: "Drivers and events",
        panels: [
          {
            title: "Location updates per second",
            description: "Driver location updates accepted by update-location, by region and the status the driver reported.",
            unit: "ops",
            queries: [{ expr: sumBy(["region", "status"], rate("uitgo_location_updates_total")), legend: "{{region}} {{status}}" }],
          },
          {
            title: "Trips matching never saw (last 15 min)",
            description:
              "Trips still requested long past their matching deadline, ended as no_driver by settle-dead-letters' scheduled ping. Above zero, bookings were answered 503 while their inserts went through (PostgreSQL went silent).",
            unit: "short",
            queries: [{ expr: sumBy(["outcome"], increase("uitgo_forgotten_trips_total", "15m")), legend: "{{outcome}}" }],
          },
          {
            title: "Dead letters (last 5 min)",
            description:
              "Messages copied to DEAD_LETTERS instead of being delivered: refused by the function (4xx), out of deliveries, or lost with a source that stopped.",
            unit: "short",
            queries: [{ expr: sumBy(["consumer", "cause"], increase("uitgo_dead_letters_total", "5m")), legend: "{{consumer}} {{cause}}" }],
          },
        ],
      },
    ],
  };
}
