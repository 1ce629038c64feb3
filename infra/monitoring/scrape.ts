// What Prometheus scrapes besides what kube-prometheus-stack already does (the kubelet's cAdvisor,
// kube-state-metrics) and the NATS chart's own PodMonitor (infra/values/nats.yaml): every function's
// /metrics, its queue-proxy, every JetStream source, and Knative's autoscaler and activator. Each monitor
// sets its job name, and copies the pod label that names the function or consumer onto every sample.
import type { IPodMonitorSpec } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitorSpec";
import type { IRelabelConfig } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/RelabelConfig";
import type { IServiceMonitorSpec } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitorSpec";
import type { Document } from "yaml";
import { FUNCTIONS_NAMESPACE, PART_OF, SOURCE_LABEL, SOURCE_PORT_NAME } from "../manifests/names";
import { commented } from "../manifests/yaml";
import { JOBS, MONITORING_NAMESPACE, TARGET_LABELS } from "./config";

/** Knative's label on every pod of a Service's revisions, and the revision's own. */
const KNATIVE_SERVICE_LABEL = "serving.knative.dev/service";
const KNATIVE_REVISION_LABEL = "serving.knative.dev/revision";

/** Knative's names for the user container's port and the queue-proxy's user-metrics port (knative/serving, pkg/apis/serving/v1). */
const USER_PORT = "user-port";
const QUEUE_METRICS_PORT = "http-usermetric";

/** Knative Serving's control plane: its Services carry `app: <component>` and serve metrics on http-metrics once config-observability says prometheus. */
const KNATIVE_SERVING_NAMESPACE = "knative-serving";
const KNATIVE_METRICS_PORT = "http-metrics";

/** Prometheus' name for a pod label in service discovery: every character outside [a-zA-Z0-9_] becomes `_`. */
function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

function fromPodLabel(label: string, target: string): IRelabelConfig {
  return { action: "replace", sourceLabels: [podLabelMeta(label)], targetLabel: target };
}

function job(name: string): IRelabelConfig {
  return { action: "replace", targetLabel: "job", replacement: name };
}

const knativePods: Pick<IPodMonitorSpec, "namespaceSelector" | "selector"> = {
  namespaceSelector: { matchNames: [FUNCTIONS_NAMESPACE] },
  selector: { matchExpressions: [{ key: KNATIVE_SERVICE_LABEL, operator: "Exists" }] },
};

const functionLabels = [
  fromPodLabel(KNATIVE_SERVICE_LABEL, TARGET_LABELS.function),
  fromPodLabel(KNATIVE_REVISION_LABEL, TARGET_LABELS.revision),
];

// Typed with the prometheus-operator CRD's own types: its validator accepts unknown fields, the type-check does not.
function monitor(kind: "PodMonitor" | "ServiceMonitor", name: string, spec: IPodMonitorSpec | IServiceMonitorSpec, why: string): Document {
  return commented(
    { apiVersion: "monitoring.coreos.com/v1", kind, metadata: { name, namespace: MONITORING_NAMESPACE, labels: { ...PART_OF } }, spec },
    [],
    why,
  );
}

const podMonitor = (name: string, spec: IPodMonitorSpec, why: string) => monitor("PodMonitor", name, spec, why);
const serviceMonitor = (name: string, spec: IServiceMonitorSpec, why: string) => monitor("ServiceMonitor", name, spec, why);

export function monitors(): Document[] {
  return [
    podMonitor(
      JOBS.functions,
      {
        ...knativePods,
        podMetricsEndpoints: [{ port: USER_PORT, path: "/metrics", relabelings: [job(JOBS.functions), ...functionLabels] }],
      },
      "Every function's own /metrics (shared/metrics.ts), on the port Knative names user-port. Scaled to zero, a function has no pod and no target: its series end, they do not drop to 0.",
    ),
    podMonitor(
      JOBS.queueProxy,
      {
        ...knativePods,
        podMetricsEndpoints: [{ port: QUEUE_METRICS_PORT, path: "/metrics", relabelings: [job(JOBS.queueProxy), ...functionLabels] }],
      },
      "The queue-proxy beside each function: requests as Knative counts them, including the time they queued in front of the function.",
    ),
    podMonitor(
      JOBS.sources,
      {
        namespaceSelector: { matchNames: [FUNCTIONS_NAMESPACE] },
        selector: { matchExpressions: [{ key: SOURCE_LABEL, operator: "Exists" }] },
        podMetricsEndpoints: [
          { port: SOURCE_PORT_NAME, path: "/metrics", relabelings: [job(JOBS.sources), fromPodLabel(SOURCE_LABEL, TARGET_LABELS.source)] },
        ],
      },
      "The JetStream sources (ContainerSource pods, always on): messages settled, batches, dead letters.",
    ),
    ...(["autoscaler", "activator"] as const).map((component) =>
      serviceMonitor(
        JOBS[component],
        {
          namespaceSelector: { matchNames: [KNATIVE_SERVING_NAMESPACE] },
          selector: { matchLabels: { app: component } },
          endpoints: [{ port: KNATIVE_METRICS_PORT, path: "/metrics", relabelings: [job(JOBS[component])] }],
        },
        component === "autoscaler"
          ? "Knative's autoscaler: desired and actual pods, observed concurrency and panic mode, per revision."
          : "Knative's activator: requests it holds for revisions with no ready pod, which is where a scale-from-zero wait is spent.",
      ),
    ),
  ];
}
