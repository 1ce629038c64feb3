// One booking is one trace: the whole stack as its own processes with tracing on, exporting to the stack's own trace
// receiver (local/traces.ts), over the real NATS, Redis and PostgreSQL.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Trip } from "../shared/trips/trip";
import { UITGO } from "../shared/telemetry/tracing";
import { tripTraces, waterfall } from "../local/trace";
import type { ReceivedSpan } from "../local/traces";
import { HCMC, offset, tripRequest } from "../harness/places";
import { waitFor } from "../harness/processes";
import { bearer } from "./support/auth";
import { reportAvailable } from "./support/http";
import { stackPerFile } from "./support/stack-per-file";

const run = stackPerFile(28680, { traces: true });
const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;

function call(path: string, init: RequestInit = {}) {
  return fetch(`${run.stack.gatewayUrl}${path}`, init);
}

function reportLocation(driverId: string, point: { lat: number; lng: number }) {
  return reportAvailable(run.stack.gatewayUrl, driverId, point);
}

async function book(headers: Record<string, string> = {}): Promise<Trip> {
  const response = await call("/v1/trips", {
    method: "POST",
    headers: { ...bearer("rider", "rider-traced"), "content-type": "application/json", ...headers },
    body: JSON.stringify(tripRequest(HCMC)),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Trip;
}

/** The trip's one trace, once it holds the spans `complete` asks for (spans reach the receiver a moment after they end). */
async function traceOf(tripId: string, complete: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  const url = run.stack.traces!.url;
  return waitFor(
    async () => {
      const traces = await tripTraces(url, tripId);
      return traces.length === 1 && complete(traces[0]!) && traces[0]!;
    },
    15_000,
    `the trace of ${tripId}`,
  );
}

function one(spans: ReceivedSpan[], service: string, name: string): ReceivedSpan {
  const found = spans.filter((span) => span.service === service && span.name === name);
  expect(found, `${service}: ${name} in\n${waterfall(spans)}`).toHaveLength(1);
  return found[0]!;
}

function childOf(span: ReceivedSpan, parent: ReceivedSpan): void {
  expect(span.parentSpanId, `${span.service} ${span.name} under ${parent.service} ${parent.name}`).toBe(parent.spanId);
}

const ASSIGNED = "publish trips.assigned.vn";
/** A trace is complete once the source's delivery span that led to the assignment has ended (it ends last, on the ack). */
const assigned = (spans: ReceivedSpan[]) =>
  spans.some((span) => span.name === ASSIGNED) &&
  spans.some((span) => span.name === "process trips.requested.vn" && span.attributes[UITGO.outcome] === "delivered");

describe("a booking's trace", () => {
  it("runs from the booking through the JetStream source into assign-driver's matching, claim, update and publish", async () => {
    await reportLocation("traced-driver", offset(HCMC, 200, 0));
    const upstream = "4bf92f3577b34da6a3ce929d0e0e4736";
    const trip = await book({ traceparent: `00-${upstream}-00f067aa0ba902b7-01` });
    const spans = await traceOf(trip.id, assigned);

    // The caller's trace is continued, not replaced.
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([upstream]));
    const booking = one(spans, "create-trip", "POST /v1/trips");
    expect(booking).toMatchObject({ kind: SERVER, parentSpanId: "00f067aa0ba902b7" });
    expect(booking.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/v1/trips",
      "http.response.status_code": 201,
    });
    const insert = one(spans, "create-trip", "INSERT trips");
    childOf(insert, booking);
    expect(insert.attributes).toMatchObject({
      "db.system.name": "postgresql",
      "db.operation.name": "INSERT",
      "db.namespace": expect.stringMatching(/_vn$/),
    });
    const requested = one(spans, "create-trip", "publish trips.requested.vn");
    childOf(requested, booking);
    expect(requested).toMatchObject({ kind: PRODUCER });
    expect(requested.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.message.id": `${trip.id}:requested`,
      [UITGO.tripId]: trip.id,
    });

    const waited = one(spans, "source-assign-driver", "wait in TRIPS");
    childOf(waited, requested);
    const delivery = one(spans, "source-assign-driver", "process trips.requested.vn");
    childOf(delivery, requested);
    expect(delivery).toMatchObject({ kind: CONSUMER });
    expect(delivery.attributes).toMatchObject({
      "messaging.operation.type": "process",
      [UITGO.deliveryAttempt]: 1,
      [UITGO.outcome]: "delivered",
    });
    expect(waited.startMs).toBeLessThanOrEqual(delivery.startMs);

    const receiving = one(spans, "assign-driver", "POST /");
    childOf(receiving, delivery);
    const matching = one(spans, "assign-driver", "match trip");
    childOf(matching, receiving);
    expect(matching.attributes).toMatchObject({ [UITGO.tripId]: trip.id, [UITGO.outcome]: "assigned" });
    const claim = one(spans, "assign-driver", "EVALSHA claim");
    childOf(claim, matching);
    expect(claim.attributes).toMatchObject({ "db.system.name": "redis" });
    childOf(one(spans, "assign-driver", "UPDATE trips"), matching);
    childOf(one(spans, "assign-driver", ASSIGNED), matching);

    // Every line the functions wrote for it carries its trace id: the access lines of both requests among them.
    const lines = (name: string) =>
      readFileSync(join(run.stack.logDir, `${name}.log`), "utf8")
        .split("\n")
        .filter((line) => line.includes(upstream))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines("create-trip")).toContainEqual(
      expect.objectContaining({
        msg: "request",
        method: "POST",
        route: "/v1/trips",
        status: 201,
        trace_id: upstream,
        span_id: booking.spanId,
      }),
    );
    expect(lines("assign-driver")).toContainEqual(
      expect.objectContaining({ msg: "request", route: "/", status: 200, trace_id: upstream, span_id: receiving.spanId }),
    );
  });

  it("shows a redelivery as a second delivery span of the same trace", async () => {
    // Nobody within reach: assign-driver answers 503 and the source delivers again after its Retry-After.
    const trip = await book();
    const first = await waitFor(
      async () => (await tripTraces(run.stack.traces!.url, trip.id))[0]?.find((span) => span.name === "match trip"),
      15_000,
      "the first matching attempt",
    );
    expect(first.attributes[UITGO.outcome]).toBe("waiting");
    await reportLocation("late-driver", offset(HCMC, 300, 0));

    const spans = await traceOf(trip.id, assigned);
    const requested = one(spans, "create-trip", "publish trips.requested.vn");
    const deliveries = spans
      .filter((span) => span.name === "process trips.requested.vn")
      .sort((a, b) => Number(a.attributes[UITGO.deliveryAttempt]) - Number(b.attributes[UITGO.deliveryAttempt]));
    expect(deliveries.map((span) => [span.attributes[UITGO.deliveryAttempt], span.attributes[UITGO.outcome]])).toEqual([
      [1, "failed"],
      [2, "delivered"],
    ]);
    for (const delivery of deliveries) childOf(delivery, requested);
    // Only the first delivery waited in the stream; the second waited out the Retry-After.
    expect(spans.filter((span) => span.name === "wait in TRIPS")).toHaveLength(1);
    const answers = spans.filter((span) => span.service === "assign-driver" && span.kind === SERVER);
    expect(answers.map((span) => span.attributes["http.response.status_code"]).sort()).toEqual([200, 503]);
    for (const answer of answers) expect(deliveries.map((span) => span.spanId)).toContain(answer.parentSpanId);
  });

  it("traces a location update into the history's batch, and a search", async () => {
    await reportLocation("located-driver", offset(HCMC, 100, 0));
    const search = await call(`/v1/drivers/search?lat=${HCMC.lat}&lng=${HCMC.lng}&radius=1000`, {
      headers: bearer("rider", "rider-traced"),
    });
    expect(search.status).toBe(200);
    const receiver = run.stack.traces!;
    const [update] = await waitFor(
      async () => {
        const found = receiver.find("http.route", "/v1/drivers/me/location");
        return found.length > 0 && found[0]!.some((span) => span.name === "process drivers.location.vn") && found;
      },
      15_000,
      "the location update's trace",
    );
    const request = one(update!, "update-location", "POST /v1/drivers/me/location");
    childOf(one(update!, "update-location", "EVALSHA update locations"), request);
    const published = one(update!, "update-location", "publish drivers.location.vn");
    childOf(published, request);
    childOf(one(update!, "source-record-locations", "process drivers.location.vn"), published);
    // record-locations takes its events in batches, each from a trace of its own: its span links to theirs.
    const delivery = one(update!, "source-record-locations", "process drivers.location.vn");
    const history = await waitFor(
      async () =>
        receiver
          .find("http.route", "/")
          .flat()
          .find((span) => span.service === "record-locations" && span.links.some((link) => link.spanId === delivery.spanId)),
      15_000,
      "record-locations' batch span",
    );
    expect(history.attributes).toMatchObject({ "messaging.batch.message_count": 1 });

    const searched = await waitFor(async () => receiver.find("http.route", "/v1/drivers/search")[0], 15_000, "the search's trace");
    childOf(one(searched, "search-drivers", "EVALSHA search"), one(searched, "search-drivers", "GET /v1/drivers/search"));
  });
});
