// The OpenTelemetry SDK, bundled as a file of its own (esbuild.config.ts) and imported by startTracing() only when
// tracing is configured. Everything here is configured the standard way, by the SDK itself from the environment:
// OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces; OTLP/HTTP with JSON bodies), OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on), OTEL_BSP_* for batching, OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. The function's own name is only the fallback service name.
//
// This bundle carries its own copy of @opentelemetry/api, for the SDK's use; the parts are registered through the
// function's copy (shared/telemetry/tracing.ts), which is the one its code asks for tracers and context.
import type { ContextManager, TextMapPropagator, TracerProvider } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

export interface Sdk {
  provider: TracerProvider;
  contextManager: ContextManager;
  propagator: TextMapPropagator;
  /** Exports what is still buffered, then stops. */
  shutdown(): Promise<void>;
}

export function createSdk(serviceName: string): Sdk {
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  return {
    provider,
    contextManager: new AsyncLocalStorageContextManager().enable(),
    propagator: new W3CTraceContextPropagator(),
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}
