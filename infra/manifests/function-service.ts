// A Knative Service per function: its autoscaling (numbers from infra/profiles.ts), its timeout (a link in
// the chain of timing.ts), and the environment its bundle needs.
import type { Document } from "yaml";
import { DEFAULTS } from "../../shared/config";
import type { ConsumerDefinition } from "../../shared/events/definitions";
import type { Profile } from "../profiles";
import { functionEnv } from "./env";
import { imageRef, type TagFor } from "./images";
import { isInternal } from "./internal-functions";
import { FUNCTIONS_NAMESPACE, HEADER, PART_OF } from "./names";
import { HTTP_PORT, SECURITY_CONTEXT, livenessProbe } from "./pod";
import type { Store } from "./stores";
import {
  CONSUMER_TIMEOUT_SECONDS,
  HTTP_TIMEOUT_SECONDS,
  SINK_TIMEOUT_MS,
  STREAM_RESPONSE_START_TIMEOUT_SECONDS,
  STREAM_TIMEOUT_SECONDS,
  ackWaitMs,
} from "./timing";
import { commented, type Path } from "./yaml";

const RESOURCES = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "1", memory: "256Mi" },
};

const RESOURCES_WHY =
  "Requests are what an idle Node process with its pools needs, so many pods fit on one kind node. The CPU limit is a whole core: a function is mostly one thread, and a lower limit would throttle the start-up parse of the bundle, which is part of every cold start. The memory limit leaves room for a burst of requests at the hard concurrency limit.";

/** Knative's default, stated because the scale-to-zero timing and the activator's place in the path follow from it. */
const TARGET_BURST_CAPACITY = 211;
/** config-autoscaler's container-concurrency-target-percentage (default 70): KPA aims for target × this per pod. */
const TARGET_UTILIZATION = 0.7;
/** config-autoscaler's scale-to-zero-grace-period (default 30s). */
const SCALE_TO_ZERO_GRACE_SECONDS = 30;

/** The timeouts a revision of long-lived connections sets beyond timeoutSeconds, and the one it leaves unset on purpose. */
function longLivedComments(template: string[]): [Path, string][] {
  return [
    [
      [...template, "spec", "responseStartTimeoutSeconds"],
      `The trip's current state is the first byte (a WebSocket's 101 before it), sent once the watch is open: a cold start and a read. A watch that cannot open is cut with a 504 after ${STREAM_RESPONSE_START_TIMEOUT_SECONDS}s rather than held for the whole timeout. No idleTimeoutSeconds: the queue-proxy measures idleness by the writes it sees, and after a WebSocket upgrade it sees none (the hijacked connection carries the frames), so any idle timeout would cut every WebSocket, heartbeats or not.`,
    ],
  ];
}

/** The fewest ready pods whose spare capacity (pods × target) exceeds the burst capacity, taking the activator out of the path; undefined if max-scale never gets there. */
export function podsWithoutActivator(profile: Profile): number | undefined {
  const pods = Math.floor(TARGET_BURST_CAPACITY / profile.target) + 1;
  return pods <= profile.maxScale ? pods : undefined;
}

export function knativeService(
  name: string,
  profile: Profile,
  consumer: ConsumerDefinition | undefined,
  stores: Set<Store>,
  tag: TagFor,
): Document {
  const annotations = {
    "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
    "autoscaling.knative.dev/metric": "concurrency",
    "autoscaling.knative.dev/target": String(profile.target),
    "autoscaling.knative.dev/max-scale": String(profile.maxScale),
    "autoscaling.knative.dev/window": "20s",
    "autoscaling.knative.dev/target-burst-capacity": String(TARGET_BURST_CAPACITY),
  };
  const timeoutSeconds = consumer ? CONSUMER_TIMEOUT_SECONDS : profile.longLived ? STREAM_TIMEOUT_SECONDS : HTTP_TIMEOUT_SECONDS;
  const service = {
    apiVersion: "serving.knative.dev/v1",
    kind: "Service",
    metadata: {
      name,
      namespace: FUNCTIONS_NAMESPACE,
      labels: isInternal(name) ? { ...PART_OF, "networking.knative.dev/visibility": "cluster-local" } : { ...PART_OF },
    },
    spec: {
      template: {
        metadata: { annotations },
        spec: {
          containerConcurrency: profile.containerConcurrency,
          timeoutSeconds,
          ...(profile.longLived && { responseStartTimeoutSeconds: STREAM_RESPONSE_START_TIMEOUT_SECONDS }),
          containers: [
            {
              name: "function",
              image: imageRef("functions", name, tag),
              imagePullPolicy: "IfNotPresent",
              ports: [{ containerPort: HTTP_PORT }],
              env: functionEnv(name, stores, isInternal(name)),
              readinessProbe: { httpGet: { path: "/health/serving", port: HTTP_PORT } },
              livenessProbe: livenessProbe(),
              resources: RESOURCES,
              securityContext: SECURITY_CONTEXT,
            },
          ],
        },
      },
    },
  };
  const template = ["spec", "template"];
  const annotation = (key: string): Path => [...template, "metadata", "annotations", key];
  const container = [...template, "spec", "containers", 0];
  const comments: [Path, string][] = [
    [
      annotation("autoscaling.knative.dev/class"),
      "KPA on concurrency (Knative's defaults, stated because the numbers below assume them). Knative's default min-scale 0 is kept: the function scales to zero when idle" +
        (consumer ? ", since the JetStream source holds its events until it is back." : "."),
    ],
    [
      annotation("autoscaling.knative.dev/target"),
      `${profile.why} KPA aims for target × ${TARGET_UTILIZATION * 100} % (container-concurrency-target-percentage) = ${profile.target * TARGET_UTILIZATION} requests in flight per pod, so it adds pods well before the hard limit makes requests queue.`,
    ],
    [
      annotation("autoscaling.knative.dev/max-scale"),
      "Bounded because every pod holds connections to the stores; see infra/profiles.ts for the budget.",
    ],
    [
      annotation("autoscaling.knative.dev/window"),
      'Stable window 20s instead of 60s, so a spike test sees scale-to-zero and scale-from-zero within minutes. With the activator already in the path (see target-burst-capacity) Knative skips the scale-to-zero grace period ("fast path scaling to 0", pkg/reconciler/autoscaling/kpa/scaler.go): the pods go about 20-25s after the last request.',
    ],
    [
      annotation("autoscaling.knative.dev/target-burst-capacity"),
      podsWithoutActivator(profile) === undefined
        ? `Knative's default. The activator stays in front of this function whenever its spare capacity (ready pods × target) is below this, which at max-scale ${profile.maxScale} × target ${profile.target} = ${profile.maxScale * profile.target} is always: every request goes through the activator, which spreads them by each pod's free slots, and scale-to-zero takes the fast path (about 20-25s after the last request).`
        : `Knative's default. The activator stays in front of this function until ${podsWithoutActivator(profile)} pods are ready (pods × target ${profile.target} > ${TARGET_BURST_CAPACITY}); below that every request goes through it. After a busy spell at ${podsWithoutActivator(profile)}+ pods, scale-to-zero waits out the grace period (${SCALE_TO_ZERO_GRACE_SECONDS}s) from the moment the activator is back in the path, so the pods go 20-50s after the last request.`,
    ],
    [[...template, "spec", "containerConcurrency"], "Hard limit per pod (default: unlimited), for the same reason as the target above."],
    [
      [...template, "spec", "timeoutSeconds"],
      profile.longLived
        ? `Default 300s. The queue-proxy's timer covers the whole request, so ${timeoutSeconds}s is the longest one connection lives (Knative's max-revision-timeout-seconds, not raised); the client then reconnects and gets the current state again. It is also the pod's termination grace period, but the drain ends every watch at once (WebSockets with 1001) rather than wait for it.`
        : consumer
          ? `Default 300s. ${timeoutSeconds}s cuts a stuck delivery before the source gives up (SINK_TIMEOUT_MS ${SINK_TIMEOUT_MS / 1000}s), which is before JetStream redelivers (ack wait ${ackWaitMs(consumer) / 1000}s), so a slow event ends as a 5xx and a nak with backoff, never as two deliveries at once. A cold start (0.2-0.35 s measured locally, a few seconds on kind) is part of this budget. It is also the pod's termination grace period, above the function's own drain limit (SHUTDOWN_TIMEOUT_MS, ${DEFAULTS.shutdownTimeoutMs / 1000}s).`
          : `Default 300s. A request waits at most DEPENDENCY_TIMEOUT_MS (${DEFAULTS.dependencyTimeoutMs / 1000}s) on each store, so ${timeoutSeconds}s only ever cuts a stuck one. It is also the pod's termination grace period, so it stays above the function's own drain limit (SHUTDOWN_TIMEOUT_MS, ${DEFAULTS.shutdownTimeoutMs / 1000}s).`,
    ],
    ...(profile.longLived ? longLivedComments(template) : []),
    [
      [...container, "image"],
      "Built from the function's bundle by infra/cluster.sh; `deploy` replaces the :dev tag with the bundle's content hash.",
    ],
    [[...container, "imagePullPolicy"], "The image is loaded into kind, not pulled."],
    [[...container, "ports"], "Knative passes it to the function as PORT; the probes must name the same port."],
    [
      [...container, "env"],
      `Only the stores this function's bundle links (read from the bundle by infra/manifests/stores.ts); OTEL_*: OpenTelemetry's standard variables, the function's name as its service and the collector and sampler from the ConfigMap (infra/monitoring/telemetry.ts).${isInternal(name) ? " INTERNAL_SECRET: what its senders must show (docs/runbook.md, Internal functions)." : ""}`,
    ],
    [
      [...container, "readinessProbe"],
      "Ready once every store it needs has answered; after that a store outage keeps the pod in service, so callers get the function's own 503 + Retry-After at once instead of waiting at the activator for a ready pod until the timeout and getting its bare 503 (shared/http/server.ts). /health/readiness still reports each store. No periodSeconds: Knative then probes every 25 ms during start-up, which is the fastest cold start.",
    ],
    [[...container, "resources"], RESOURCES_WHY],
  ];
  if (isInternal(name)) {
    comments.push([
      ["metadata", "labels", "networking.knative.dev/visibility"],
      "Not exposed through Kourier: its only callers are the JetStream source and the PingSources, which show INTERNAL_SECRET; the NetworkPolicy internal-functions keeps other pods from its pods.",
    ]);
  }
  return commented(
    service,
    comments,
    `${HEADER}\nThe ${name} function${consumer ? `: CloudEvents from ${consumer.stream} through consumer ${consumer.config.durable_name}` : ""}.`,
  );
}
