// What every request leaves behind: its duration in the latency histogram, one access-log line (LOG_LEVEL=info), and,
// with tracing on, a server span (semantic conventions for HTTP servers) that continues the caller's trace. A 5xx
// answer names its trace in a traceresponse header (W3C Trace Context Level 2), so whoever got it can find the trace.
//
// The caller's trace context is ce-traceparent for a binary-mode CloudEvent (the event's own context, which the
// JetStream source continues from the publisher; a queue-proxy in between may start an unrelated transport trace in
// traceparent), otherwise traceparent. With tracing off no span is made; the incoming trace id still goes into the
// access line and the traceresponse, so a trace an upstream (Kourier, a client) started still finds these answers.
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from "@opentelemetry/semantic-conventions";
import { HEADERS, headerOf } from "../cloudevents/spec";
import { log, logs } from "../log";
import { httpRequestDuration } from "../metrics";
import { SpanKind, TRACEPARENT, extractContext, traceIdOf, tracing, withSpan, type Span } from "../telemetry/tracing";

const TRACERESPONSE = "traceresponse";

/** Probes and scrapes are neither traced nor access-logged: they come every few seconds from the platform. */
function unobserved(path: string): boolean {
  return path.startsWith("/health/") || path === "/metrics";
}

export function observeRequests(): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    if (unobserved(c.req.path)) {
      await next();
      return record(c, start);
    }
    if (!tracing()) {
      await next();
      const traceparent = incomingTraceparent(c);
      const traceId = traceIdOf(traceparent);
      // No span of ours to name: the caller's own, which the trace continues through, as its traceparent said.
      if (traceId && c.res.status >= 500) c.res.headers.set(TRACERESPONSE, traceparent!);
      return record(c, start, traceId);
    }
    const ce = header(c, HEADERS.traceparent) !== undefined;
    const parent = extractContext((name) => header(c, ce ? headerOf(name) : name));
    const attributes = { [ATTR_HTTP_REQUEST_METHOD]: c.req.method, [ATTR_URL_PATH]: c.req.path, [ATTR_URL_SCHEME]: "http" };
    await withSpan(
      c.req.method,
      { kind: SpanKind.SERVER, attributes },
      async (span) => {
        try {
          await next();
        } finally {
          answered(c, span);
          record(c, start);
        }
      },
      parent,
    );
  };
}

/** The trace id the caller sent (an event's own first), for what is written while tracing is off. */
export function incomingTraceId(c: Context): string | undefined {
  return traceIdOf(incomingTraceparent(c));
}

function incomingTraceparent(c: Context): string | undefined {
  return header(c, HEADERS.traceparent) ?? header(c, TRACEPARENT);
}

function answered(c: Context, span: Span): void {
  const route = c.req.routePath;
  const status = c.res.status;
  span.updateName(`${c.req.method} ${route}`);
  span.setAttributes({ [ATTR_HTTP_ROUTE]: route, [ATTR_HTTP_RESPONSE_STATUS_CODE]: status });
  if (status >= 500) {
    // Server spans are errors on 5xx only (a 4xx is the client's): the status says so, the exception (if any) is recorded by withSpan.
    span.setStatus({ code: 2 });
    const { traceId, spanId, traceFlags } = span.spanContext();
    c.res.headers.set(TRACERESPONSE, `00-${traceId}-${spanId}-0${traceFlags & 1}`);
  }
}

function record(c: Context, start: number, traceId?: string): void {
  const seconds = (performance.now() - start) / 1000;
  const labels = { method: c.req.method, route: c.req.routePath, status: String(c.res.status) };
  httpRequestDuration.observe(labels, seconds);
  if (unobserved(c.req.path) || !logs("info")) return;
  log("info", "request", {
    ...labels,
    status: c.res.status,
    duration_ms: Math.round(seconds * 1e4) / 10,
    ...(traceId && { trace_id: traceId }),
  });
}

/**
 * A request header by lower-case name, from node's own parsed headers when served by @hono/node-server: reading
 * c.req.header() there builds a Headers object for the request, which most routes never need.
 */
function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const value = incoming ? incoming.headers[name] : c.req.header(name);
  return typeof value === "string" ? value : undefined;
}
