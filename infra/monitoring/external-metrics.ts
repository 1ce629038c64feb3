// The metrics the dashboards read that this code does not register, with the page each name was taken
// from. tests/deploy/monitoring.test.ts fails on any queried name that is neither registered by the code
// nor listed here, so a name cannot reach a dashboard without a source.
//
// Knative Serving 1.19 and later export OpenTelemetry instruments. Prometheus sees them with dots turned
// into underscores, a unit of `s` appended as `_seconds`, curly-brace units such as `{pod}` dropped, and a
// histogram's `_bucket`/`_sum`/`_count` series
// (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/). Attributes become
// labels the same way: kn.service.name is `kn_service_name`.

/**
 * Knative's autoscaler, one series per revision, labelled kn_service_name and k8s_namespace_name.
 * https://knative.dev/docs/serving/observability/metrics/serving-metrics/ ("Autoscaler"); the panic-mode
 * gauge is not on that page but is registered next to the others in
 * https://github.com/knative/serving/blob/main/pkg/autoscaler/scaling/metrics.go (kn.revision.panic.mode).
 */
export const AUTOSCALER = {
  podsDesired: "kn_revision_pods_desired",
  podsActual: "kn_revision_pods_count",
  podsNotReady: "kn_revision_pods_not_ready_count",
  panicMode: "kn_revision_panic_mode",
  concurrencyStable: "kn_revision_concurrency_stable",
  concurrencyPanic: "kn_revision_concurrency_panic",
  concurrencyTarget: "kn_revision_concurrency_target",
} as const;

/**
 * Knative's activator: in front of a revision while it has no ready pod, and, with the default
 * target-burst-capacity (211), whenever its pods' spare capacity is below that, which for most of these
 * functions is always (docs/runbook.md, "Watch scale-to-zero"). kn.revision.request.queued ("requests
 * currently queued in the activator waiting for capacity", pkg/activator/handler/metrics.go at
 * knative-v1.23.0) carries only k8s_namespace_name and kn_revision_name.
 * https://knative.dev/docs/serving/observability/metrics/serving-metrics/ ("Activator"): the concurrency
 * gauge, and the OpenTelemetry HTTP server histogram http.server.request.duration
 * (https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration), with
 * kn_service_name and k8s_namespace_name on both.
 */
export const ACTIVATOR = {
  requestConcurrency: "kn_revision_request_concurrency",
  requestQueued: "kn_revision_request_queued",
  requestDurationBucket: "http_server_request_duration_seconds_bucket",
} as const;

/**
 * The queue-proxy beside every function container, on its http-usermetric port (9091) once
 * config-observability's request-metrics-protocol is prometheus.
 * https://knative.dev/docs/serving/observability/metrics/serving-metrics/ ("Workload Metrics"):
 * kn.serving.queue.depth and kn.serving.invocation.duration.
 */
export const QUEUE_PROXY = {
  queueDepth: "kn_serving_queue_depth",
  invocationDurationBucket: "kn_serving_invocation_duration_seconds_bucket",
} as const;

/**
 * The NATS chart's exporter sidecar (prometheus-nats-exporter run with -jsz=all -prefix=nats:
 * https://github.com/nats-io/k8s/blob/main/helm/charts/nats/files/stateful-set/prom-exporter-container.yaml),
 * one series per consumer labelled stream_name and consumer_name:
 * https://github.com/nats-io/prometheus-nats-exporter/blob/main/collector/jsz.go.
 */
export const NATS = {
  consumerPending: "nats_consumer_num_pending",
  consumerAckPending: "nats_consumer_num_ack_pending",
  consumerRedelivered: "nats_consumer_num_redelivered",
  streamMessages: "nats_stream_total_messages",
} as const;

/**
 * The kubelet's cAdvisor, scraped by kube-prometheus-stack, labelled namespace, pod and container.
 * https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md
 */
export const CADVISOR = {
  memoryWorkingSet: "container_memory_working_set_bytes",
  cpuSeconds: "container_cpu_usage_seconds_total",
} as const;

/**
 * kube-state-metrics, installed by kube-prometheus-stack, labelled namespace and pod.
 * https://github.com/kubernetes/kube-state-metrics/blob/main/docs/metrics/workload/pod-metrics.md
 * The Deployment series are labelled namespace and deployment (…/workload/deployment-metrics.md), the
 * HPA's namespace and horizontalpodautoscaler (…/workload/horizontalpodautoscaler-metrics.md).
 */
export const KUBE_STATE = {
  podCreated: "kube_pod_created",
  podReadyTime: "kube_pod_status_ready_time",
  containerLimits: "kube_pod_container_resource_limits",
  containerRestarts: "kube_pod_container_status_restarts_total",
  deploymentReplicasAvailable: "kube_deployment_status_replicas_available",
  hpaDesiredReplicas: "kube_horizontalpodautoscaler_status_desired_replicas",
} as const;

/** Every metric name above: the list the dashboards may query besides the code's own. */
export const EXTERNAL_METRICS: ReadonlySet<string> = new Set(
  [AUTOSCALER, ACTIVATOR, QUEUE_PROXY, NATS, CADVISOR, KUBE_STATE].flatMap((group) => Object.values(group)),
);
