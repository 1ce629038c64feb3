// Overload is refused at once instead of queued. A rider's app gives up after a few seconds; a booking
// answered after twenty is worse than a 503 now, which the app retries after Retry-After. Three signs of
// overload, any one enough:
//   - requests in flight in this process past a limit: they wait on a pool, a store or the CPU, and every
//     one more only waits longer;
//   - the oldest request in flight running for longer than a limit: whatever it waits on (a store, a pool, the
//     CPU) is not keeping up, and a request let in now would wait behind it;
//   - the event loop running late: a request read now has already waited that long in the socket, and the
//     requests ahead of it will take as long again.
// Probes and metrics are never refused: a busy process is alive and ready, and refusing its probes would only
// restart it or take it out of rotation when it is needed most. Nor are CloudEvents: the JetStream source already
// paces its deliveries (SOURCE_CONCURRENCY), and each refusal would spend one of a message's bounded deliveries
// on its way to the dead-letter path.
import type { MiddlewareHandler } from "hono";
import { HEADERS, saysCloudEvent } from "../cloudevents/spec";
import { loadOverloadLimits, type OverloadLimits } from "../config";
import { counter } from "../metrics";
import { incomingOf } from "./early-close";
import { errorBody } from "./errors";

const shed = counter("uitgo_requests_shed_total", "Requests refused with 503 because this process was overloaded, by which sign", [
  "reason",
]);

const PROBE_PATHS = new Set(["/health/liveness", "/health/readiness", "/health/serving", "/metrics"]);

// A refusal sent before the body is read closes the connection (early-close.ts), and a busy client or entry point
// then pays a new connection for every refused request. A body as small as the API's own (16 KiB at most) has
// almost always arrived with its headers: it is let through to its end, for a few milliseconds at most, first.
const DRAIN_MAX_BYTES = 16 * 1024;
const DRAIN_WAIT_MS = 20;

async function drainSmallBody(env: unknown): Promise<void> {
  const incoming = incomingOf(env);
  if (!incoming || incoming.complete) return;
  if (!(Number(incoming.headers["content-length"]) <= DRAIN_MAX_BYTES)) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, DRAIN_WAIT_MS);
    incoming.once("end", () => {
      clearTimeout(timer);
      resolve();
    });
    incoming.resume();
  });
}

// How often the event loop's lateness is sampled: fine enough to catch a backlog of a few tens of
// milliseconds, coarse enough to cost little (50 timer runs a second).
const LAG_SAMPLE_MS = 20;
// Sampling stops once no request has come for this long while the loop keeps time, and the next request starts it
// again: an idle process has no backlog to measure, and each wake-up costs it CPU (on a virtual machine about 300 µs,
// bench/wake-cost.ts).
const IDLE_AFTER_MS = 1000;
let lastRequestAt = 0;
// The lateness is the least of the last few samples: a backlog makes every one late, while a single late one is
// a pause (a garbage collection, or the process descheduled on a busy machine) that refusing would not shorten.
const LAG_SAMPLES = 3;
const recent: number[] = [];
/** How late the sampler's timers have all run lately: about how long a request read now has waited for the loop. */
let lagMs = 0;
let sampling: NodeJS.Timeout | undefined;

function sampleLag(now: number): void {
  lastRequestAt = now;
  if (sampling) return;
  let due = now + LAG_SAMPLE_MS;
  sampling = setInterval(() => {
    const now = performance.now();
    const lateness = Math.max(0, now - due);
    // Idle: no request lately and the loop keeps time (a held loop has requests waiting that it has not read yet).
    if (now - lastRequestAt > IDLE_AFTER_MS && lateness < LAG_SAMPLE_MS) {
      clearInterval(sampling);
      sampling = undefined;
      recent.length = 0;
      lagMs = 0;
      return;
    }
    recent.push(lateness);
    if (recent.length > LAG_SAMPLES) recent.shift();
    // Fewer samples than that (a sampler just started) cannot tell a backlog from a pause.
    lagMs = recent.length < LAG_SAMPLES ? 0 : Math.min(...recent);
    due = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS);
  sampling.unref();
}

/**
 * Answers 503 with Retry-After past any limit (0 turns one off); probe and metrics paths always go through. A
 * request counts until its handler returns its response: a stream it then sends (SSE, WebSocket) does not.
 */
export function shedOverload(limits: OverloadLimits = loadOverloadLimits()): MiddlewareHandler {
  const { maxInFlight, maxWaitMs, maxLagMs, retryAfterSeconds } = limits;
  // When each request in flight started, oldest first (a Map keeps insertion order).
  const started = new Map<number, number>();
  let nextId = 0;
  const oldestMs = (now: number) => {
    for (const at of started.values()) return now - at;
    return 0;
  };

  return async (c, next) => {
    // CloudEvents only on the receivers' path, "/": on the API's paths the headers would let any client past the limits.
    if (
      PROBE_PATHS.has(c.req.path) ||
      (c.req.path === "/" && saysCloudEvent(c.req.header(HEADERS.specversion), c.req.header("content-type")))
    )
      return next();
    const now = performance.now();
    if (maxLagMs > 0) sampleLag(now);
    const reason =
      maxInFlight > 0 && started.size >= maxInFlight
        ? "in_flight"
        : maxWaitMs > 0 && oldestMs(now) > maxWaitMs
          ? "oldest_waiting"
          : maxLagMs > 0 && lagMs > maxLagMs
            ? "event_loop_lag"
            : undefined;
    if (reason) {
      shed.inc({ reason });
      await drainSmallBody(c.env);
      c.header("Retry-After", String(retryAfterSeconds));
      return c.json(errorBody("overloaded", "The service is busy, retry shortly"), 503);
    }
    const id = nextId++;
    started.set(id, now);
    try {
      await next();
    } finally {
      started.delete(id);
    }
  };
}
