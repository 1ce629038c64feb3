// The local stack's trace collector: an OTLP/HTTP receiver (JSON bodies, what the functions' exporter sends) on
// 127.0.0.1 and a port of its own, never behind the local entry point. It keeps the spans of the last traces in memory
// and answers which trace a span attribute names (`npm run -s trace -- <tripId>`, local/trace.ts). Nothing to
// install: on a cluster the OpenTelemetry Collector takes this place.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A span as the receiver keeps it: times in ms since the epoch, attributes flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  service: string;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  /** 2 when the span ended in error. */
  statusCode: number;
  links: { traceId: string; spanId: string }[];
}

export interface TraceReceiver {
  /** e.g. http://127.0.0.1:8090: POST /v1/traces takes spans, GET /v1/traces?attribute=&value= finds a trace. */
  url: string;
  port: number;
  /** The spans of the traces in which some span has `attribute` = `value`, oldest trace first. */
  find(attribute: string, value: string): ReceivedSpan[][];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** `keep`: how many traces are kept, the least recently added to dropped first. */
export async function startTraceReceiver({ port = 0, keep = 2_000 } = {}): Promise<TraceReceiver> {
  const traces = new Map<string, ReceivedSpan[]>();

  const add = (spans: ReceivedSpan[]) => {
    for (const span of spans) {
      const trace = traces.get(span.traceId) ?? [];
      // Re-inserted so the Map's order is by last addition: a long trace still being written is not the next dropped.
      traces.delete(span.traceId);
      trace.push(span);
      traces.set(span.traceId, trace);
    }
    for (const oldest of traces.keys()) {
      if (traces.size <= keep) break;
      traces.delete(oldest);
    }
  };
  const find = (attribute: string, value: string) =>
    [...traces.values()].filter((spans) => spans.some((span) => String(span.attributes[attribute]) === value));

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (url.pathname !== "/v1/traces") return answer(404, { error: "not found" });
    if (req.method === "GET") {
      const attribute = url.searchParams.get("attribute");
      const value = url.searchParams.get("value");
      if (!attribute || !value) return answer(400, { error: "attribute and value are required" });
      return answer(200, find(attribute, value));
    }
    if (req.method !== "POST") return answer(405, { error: "GET or POST" });
    // Only OTLP's JSON encoding: the functions' exporter (@opentelemetry/exporter-trace-otlp-http) sends that.
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return answer(415, { error: "OTLP/HTTP JSON only" });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        add(spansOf(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
        answer(200, {});
      } catch (err) {
        answer(400, { error: `not an OTLP trace export: ${String(err)}` });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    find,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpAttribute[];
  status?: { code?: number };
  links?: { traceId: string; spanId: string }[];
}
interface OtlpExport {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

/** The spans of an ExportTraceServiceRequest in OTLP's JSON encoding (ids in hex, as the JSON encoding has them). */
export function spansOf(request: OtlpExport): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const { resource, scopeSpans = [] } of request.resourceSpans ?? []) {
    const service = String(flatten(resource?.attributes)["service.name"] ?? "unknown");
    for (const scope of scopeSpans) {
      for (const span of scope.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          ...(span.parentSpanId && { parentSpanId: span.parentSpanId }),
          name: span.name,
          kind: span.kind ?? 0,
          service,
          startMs: nanosToMs(span.startTimeUnixNano),
          endMs: nanosToMs(span.endTimeUnixNano),
          attributes: flatten(span.attributes),
          statusCode: span.status?.code ?? 0,
          links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
        });
      }
    }
  }
  return spans;
}

function flatten(attributes: OtlpAttribute[] = []): Record<string, string | number | boolean> {
  const flat: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes) {
    const v =
      value.stringValue ?? value.boolValue ?? value.doubleValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined);
    if (v !== undefined) flat[key] = v;
  }
  return flat;
}

/** Nanoseconds as OTLP JSON writes them (a decimal string), to milliseconds with microseconds kept. */
function nanosToMs(nanos: string | number): number {
  const big = BigInt(nanos);
  return Number(big / 1000n) / 1000;
}
