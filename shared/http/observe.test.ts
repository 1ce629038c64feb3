// What every request leaves behind, with tracing off and then on: the access line, trace ids in log lines, and the
// traceresponse header of a 5xx. With tracing on, spans go to the local stack's receiver (local/traces.ts).
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTraceReceiver, type TraceReceiver } from "../../local/traces";
import { waitFor } from "../../harness/processes";
import { inProcess } from "../../tests/support/in-process";
import { linesOf } from "../../tests/support/log-lines";
import { log } from "../log";
import { startTracing, stopTracing } from "../telemetry/tracing";

const UPSTREAM = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${UPSTREAM}-00f067aa0ba902b7-01`;

const app = new Hono()
  .get("/v1/things/:id", (c) => {
    log("info", "looking a thing up", { id: c.req.param("id") });
    return c.json({ id: c.req.param("id") });
  })
  .get("/v1/broken", () => {
    throw new Error("a bug");
  });
const fn = inProcess(app);

describe("with tracing off", () => {
  it("writes one access line per request, with the caller's trace id, and none for probes", async () => {
    const lines = await linesOf(async () => {
      await fn.request("/v1/things/7", { headers: { traceparent: TRACEPARENT } });
      await fn.request("/health/liveness");
    });
    expect(lines.filter((line) => line.msg === "request")).toEqual([
      expect.objectContaining({
        level: "info",
        method: "GET",
        route: "/v1/things/:id",
        status: 200,
        duration_ms: expect.any(Number),
        trace_id: UPSTREAM,
      }),
    ]);
  });

  it("names the caller's trace in the traceresponse of a 5xx and in the error's line", async () => {
    let response: Response | undefined;
    const lines = await linesOf(async () => (response = await fn.request("/v1/broken", { headers: { traceparent: TRACEPARENT } })));
    expect(lines).toContainEqual(expect.objectContaining({ level: "error", msg: "unhandled error", trace_id: UPSTREAM }));
    expect(response!.status).toBe(500);
    expect(response!.headers.get("traceresponse")).toBe(TRACEPARENT);
    await linesOf(async () => expect((await fn.request("/v1/broken")).headers.get("traceresponse")).toBeNull());
  });
});

describe("with tracing on", () => {
  let receiver: TraceReceiver;
  beforeAll(async () => {
    receiver = await startTraceReceiver();
    vi.stubEnv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url);
    vi.stubEnv("OTEL_BSP_SCHEDULE_DELAY", "50");
    await startTracing(true, "observe-test");
  });
  afterAll(async () => {
    await stopTracing();
    await receiver.close();
    vi.unstubAllEnvs();
  });

  it("continues the caller's trace in a server span, and every line written for the request carries its ids", async () => {
    const lines = await linesOf(() => fn.request("/v1/things/7", { headers: { traceparent: TRACEPARENT } }));
    const [span] = await waitFor(async () => receiver.find("http.route", "/v1/things/:id")[0], 5000, "the server span");
    expect(span).toMatchObject({
      traceId: UPSTREAM,
      parentSpanId: "00f067aa0ba902b7",
      name: "GET /v1/things/:id",
      kind: 2,
      service: "observe-test",
      attributes: {
        "http.request.method": "GET",
        "http.route": "/v1/things/:id",
        "http.response.status_code": 200,
        "url.path": "/v1/things/7",
      },
    });
    const ids = { trace_id: UPSTREAM, span_id: span!.spanId };
    expect(lines).toEqual([
      expect.objectContaining({ msg: "looking a thing up", ...ids }),
      expect.objectContaining({ msg: "request", ...ids }),
    ]);
  });

  it("marks a 5xx span as an error, logs the error with the trace id, and names the span in traceresponse", async () => {
    let response: Response | undefined;
    const lines = await linesOf(async () => (response = await fn.request("/v1/broken")));
    const traceresponse = response!.headers.get("traceresponse");
    expect(traceresponse).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, spanId] = traceresponse!.split("-");
    const [span] = await waitFor(async () => receiver.find("http.route", "/v1/broken")[0], 5000, "the server span");
    expect(span).toMatchObject({ traceId, spanId, statusCode: 2, attributes: { "http.response.status_code": 500 } });
    expect(lines).toContainEqual(expect.objectContaining({ level: "error", msg: "unhandled error", trace_id: traceId }));
  });
});
