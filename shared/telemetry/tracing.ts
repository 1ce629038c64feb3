// Tracing on the OpenTelemetry API alone: the spans UIT-Go makes and the W3C Trace Context it carries across HTTP,
// NATS headers and CloudEvents. The SDK and its OTLP exporter (./sdk.ts) are a separate bundle file that
// startTracing() imports only when OTEL_EXPORTER_OTLP_ENDPOINT is set, so a function without tracing neither loads
// nor runs them. Until then (and for good when tracing is off) every helper here runs its work directly: no span, no
// context switch, no async-local storage on the hot path.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
} from "@opentelemetry/api";
import type * as SdkModuleType from "./sdk";
import { ATTR_DB_NAMESPACE, ATTR_DB_OPERATION_NAME, ATTR_DB_QUERY_SUMMARY, ATTR_DB_SYSTEM_NAME } from "@opentelemetry/semantic-conventions";

export { SpanKind, type Span };

type SdkModule = typeof SdkModuleType;

/** The W3C Trace Context fields, as HTTP headers, NATS headers and CloudEvents extension attributes all name them. */
export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/**
 * Messaging attributes are still incubating in the semantic conventions, whose maintainers ask that they be copied
 * rather than imported from the unstable entry point. NATS is not among messaging.system's listed values; the
 * registry allows others, and "nats" is what other NATS instrumentations send.
 */
export const MESSAGING = {
  system: "messaging.system",
  destination: "messaging.destination.name",
  operationType: "messaging.operation.type",
  operationName: "messaging.operation.name",
  messageId: "messaging.message.id",
  consumerGroup: "messaging.consumer.group.name",
  batchCount: "messaging.batch.message_count",
} as const;
const NATS_SYSTEM = "nats";

/** The attributes of a span for one NATS message (semantic conventions for messaging spans). */
export function natsMessage(subject: string, operation: "send" | "process", name: string, messageId: string): Attributes {
  return {
    [MESSAGING.system]: NATS_SYSTEM,
    [MESSAGING.destination]: subject,
    [MESSAGING.operationType]: operation,
    [MESSAGING.operationName]: name,
    [MESSAGING.messageId]: messageId,
  };
}

/** UIT-Go's own attributes: the trip a span works on (what `npm run trace -- <tripId>` finds a trace by), and the source's. */
export const UITGO = {
  tripId: "uitgo.trip.id",
  outcome: "uitgo.outcome",
  deliveryAttempt: "uitgo.delivery.attempt",
  streamWaitMs: "uitgo.stream.wait_ms",
} as const;

// Asked for once the SDK is registered: a tracer taken before would stay a no-op one.
let tracer = trace.getTracer("uitgo");
let enabled = false;
let stop: () => Promise<void> = async () => {};

/** Whether spans are made (the SDK is started). */
export function tracing(): boolean {
  return enabled;
}

/**
 * Starts the SDK when `on` (OTEL_EXPORTER_OTLP_ENDPOINT is set; see shared/config.ts). The SDK is a file of its own next
 * to the bundle (esbuild.config.ts), or the TypeScript module when run from source (tests, tsx).
 */
export async function startTracing(on: boolean, serviceName: string): Promise<void> {
  if (!on || enabled) return;
  const source = import.meta.url.endsWith(".ts") ? "./sdk.ts" : "./telemetry-sdk.mjs";
  const sdk = (await import(/* @vite-ignore */ new URL(source, import.meta.url).href)) as SdkModule;
  const { provider, contextManager, propagator, shutdown } = sdk.createSdk(serviceName);
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
  tracer = trace.getTracer("uitgo");
  stop = shutdown;
  enabled = true;
}

/** Sends what is still buffered; part of a function's drain. */
export function stopTracing(): Promise<void> {
  return stop();
}

/** The active span's context, or undefined when no span is active (tracing off, or outside any request). */
export function activeSpanContext(): SpanContext | undefined {
  return enabled ? trace.getActiveSpan()?.spanContext() : undefined;
}

const NOT_RECORDING = trace.wrapSpanContext({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 });

/**
 * Runs `work` as the active span `name`, ended when it settles; an error it throws marks the span and is thrown on.
 * With tracing off, `work` runs as it is, given a span that records nothing.
 */
export function withSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>, parent?: Context): Promise<T> {
  if (!enabled) return work(NOT_RECORDING);
  return tracer.startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** A span started now and ended by the caller, for work that ends elsewhere (a publish settled by its ack). */
export function startSpan(name: string, options: SpanOptions, parent?: Context): Span | undefined {
  return enabled ? tracer.startSpan(name, options, parent ?? context.active()) : undefined;
}

/** Runs `work` with `span` active, so what it logs and starts belongs to it. */
export function inSpan<T>(span: Span | undefined, work: () => T): T {
  return span ? context.with(trace.setSpan(context.active(), span), work) : work();
}

/**
 * A call to PostgreSQL or Redis as a client span (semantic conventions for database spans: named by the query
 * summary, e.g. "UPDATE trips"), only inside a traced request or delivery: background work (the geo-index sweep)
 * starts no traces of its own.
 */
export function dbSpan<T>(
  system: "postgresql" | "redis",
  summary: string,
  namespace: string | undefined,
  work: () => Promise<T>,
): Promise<T> {
  if (!enabled || !trace.getActiveSpan()) return work();
  const attributes: Attributes = {
    [ATTR_DB_SYSTEM_NAME]: system,
    [ATTR_DB_OPERATION_NAME]: summary.split(" ")[0],
    [ATTR_DB_QUERY_SUMMARY]: summary,
  };
  if (namespace !== undefined) attributes[ATTR_DB_NAMESPACE] = namespace;
  return withSpan(summary, { kind: SpanKind.CLIENT, attributes }, work);
}

/** Header or attribute lookup by lower-case name: a Headers, a NATS MsgHdrs, a plain record. */
export type Lookup = (name: string) => string | null | undefined;

/** The context a carrier's traceparent/tracestate continue (the root context when they are missing or invalid). */
export function extractContext(lookup: Lookup): Context {
  return propagation.extract(ROOT_CONTEXT, lookup, { get: (get, key) => get(key) ?? undefined, keys: () => [TRACEPARENT, TRACESTATE] });
}

/** The active (or given) context as traceparent/tracestate fields: empty when tracing is off or nothing is active. */
export function injectContext(into: Record<string, string> = {}, from: Context = context.active()): Record<string, string> {
  if (enabled) propagation.inject(from, into);
  return into;
}

/** A span's context as traceparent/tracestate fields, for what carries it on (a message's headers, an event's extensions). */
export function contextOf(span: Span): Record<string, string> {
  return injectContext({}, trace.setSpan(context.active(), span));
}

/**
 * Links the active span to the traces that the traceparents of many events name: a batch of events is processed in one
 * request, whose span cannot have them all as parent (semantic conventions for messaging, batch receiving).
 */
export function linkToAll(traceparents: readonly unknown[]): void {
  const span = enabled ? trace.getActiveSpan() : undefined;
  if (!span) return;
  const links: Link[] = [];
  for (const traceparent of traceparents) {
    if (typeof traceparent !== "string") continue;
    const linked = trace.getSpanContext(extractContext((name) => (name === TRACEPARENT ? traceparent : undefined)));
    if (linked) links.push({ context: linked });
  }
  span.addLinks(links);
  span.setAttribute(MESSAGING.batchCount, traceparents.length);
}

/** The trace id a traceparent names (version 00), or undefined: what logs and answers carry while tracing is off. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  const match = traceparent && TRACEPARENT_V00.exec(traceparent);
  if (!match || match[1] === "0".repeat(32) || match[2] === "0".repeat(16)) return undefined;
  return match[1];
}

const TRACEPARENT_V00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
