// Where traces and logs go on the cluster, named once: the functions' and sources' OpenTelemetry settings
// (infra/manifests/env.ts), Knative's tracing keys (the config-observability patch in infra/cluster.sh), the
// collector, Jaeger, Loki and Alloy chart values (infra/values/) and Grafana's datasources
// (infra/values/monitoring.yaml) all name these; tests/deploy/telemetry.test.ts holds them to it.
import { serviceHost } from "../manifests/names";
import { MONITORING_NAMESPACE } from "./config";

/** Helm releases (and, through each chart's fullnameOverride or its release-name rule, their Services) in MONITORING_NAMESPACE. */
export const TELEMETRY_RELEASES = { collector: "otel-collector", jaeger: "jaeger", loki: "loki", alloy: "alloy" } as const;

/** OTLP's standard ports: gRPC and HTTP. */
export const OTLP_GRPC_PORT = 4317;
export const OTLP_HTTP_PORT = 4318;
/** Jaeger's query API and UI (the Service's http-query port), and Loki's HTTP API. */
export const JAEGER_QUERY_PORT = 16686;
export const LOKI_HTTP_PORT = 3100;

/** The collector's OTLP/HTTP receiver: OpenTelemetry SDKs append /v1/traces to it. */
export const COLLECTOR_OTLP_HTTP = `http://${serviceHost(TELEMETRY_RELEASES.collector, MONITORING_NAMESPACE)}:${OTLP_HTTP_PORT}`;

/**
 * The standard OpenTelemetry SDK variables every function and source is given through the ConfigMap (their
 * OTEL_SERVICE_NAME is set per container). Parent-based: a process continues the decision of the request or
 * message it serves, and decides by ratio only for a trace it starts. Ratio 1.0 keeps every trace, which is what a
 * demo cluster wants; lower it (and tracing-sampling-rate in Knative's config-observability with it) under load.
 */
export const OTEL_SDK_CONFIG = {
  OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR_OTLP_HTTP,
  OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
  OTEL_TRACES_SAMPLER_ARG: "1.0",
} as const;

/** Every OpenTelemetry variable a manifest sets: read by the OpenTelemetry SDK, not by shared/config.ts. */
export const OTEL_ENV_NAMES: readonly string[] = ["OTEL_SERVICE_NAME", ...Object.keys(OTEL_SDK_CONFIG)];

/**
 * Knative Serving 1.23's tracing keys in config-observability (knative.dev/pkg observability/tracing: config-tracing
 * is deprecated and read by nothing). Its activator and queue-proxies export OTLP/HTTP protobuf to this full URL (the
 * exporter takes the path as given) and propagate W3C tracecontext, so their spans join the functions' traces. A rate
 * of 1 samples every request, as the functions do at ratio 1.0.
 */
export const KNATIVE_TRACING = {
  "tracing-protocol": "http/protobuf",
  "tracing-endpoint": `${COLLECTOR_OTLP_HTTP}/v1/traces`,
  "tracing-sampling-rate": "1",
} as const;

/** Where Grafana reaches Jaeger's query API and Loki, and the uids its datasources are provisioned with (infra/values/monitoring.yaml). */
export const JAEGER_QUERY_URL = `http://${serviceHost(TELEMETRY_RELEASES.jaeger, MONITORING_NAMESPACE)}:${JAEGER_QUERY_PORT}`;
export const LOKI_URL = `http://${serviceHost(TELEMETRY_RELEASES.loki, MONITORING_NAMESPACE)}:${LOKI_HTTP_PORT}`;
export const DATASOURCE_UIDS = { jaeger: "jaeger", loki: "loki" } as const;
