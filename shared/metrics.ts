// One Prometheus registry per process; every function exposes it on GET /metrics.
// prom-client's index also loads the push gateway (https, zlib), the summary (tdigest) and the cluster
// aggregator, none of which a function uses; importing the four modules it does use spares every cold start them.
import Counter from "prom-client/lib/counter";
import collectDefaultMetrics from "prom-client/lib/defaultMetrics";
import Histogram from "prom-client/lib/histogram";
import Registry from "prom-client/lib/registry";

export const registry = new Registry();
// The event-loop delay histogram samples every 100 ms instead of prom-client's 10: each sample wakes an idle process,
// and on a virtual machine a wake-up costs about 300 µs of CPU (bench/wake-cost.ts); ten samples a second are
// still hundreds per scrape.
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });

export const httpRequestDuration = new Histogram({
  name: "http_request_duration_seconds",
  help: "HTTP request duration by route and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const dependencyUnavailable = new Counter({
  name: "uitgo_dependency_unavailable_total",
  help: "Requests answered 503 because a dependency did not answer",
  labelNames: ["dependency"] as const,
  registers: [registry],
});

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}
