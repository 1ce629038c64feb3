// A JetStream source per consumer: the ContainerSource that delivers it to its function, and the KEDA
// ScaledObject that scales the source on the consumer's lag.
import type { Document } from "yaml";
import { SOURCE_SETTINGS, loadSourceConfig } from "../../shared/config";
import type { ConsumerDefinition } from "../../shared/events/definitions";
import { SOURCE_PROFILES } from "../profiles";
import { LISTEN_EVERYWHERE, fromConfig, fromSecret, telemetryEnv } from "./env";
import { imageRef, type TagFor } from "./images";
import { FUNCTIONS_NAMESPACE, HEADER, NATS_NAMESPACE, PART_OF, SOURCE_LABEL, SOURCE_PORT_NAME, serviceHost } from "./names";
import { HTTP_PORT, SECURITY_CONTEXT, livenessProbe } from "./pod";
import { CONSUMER_TIMEOUT_SECONDS, SINK_TIMEOUT_MS, ackWaitMs } from "./timing";
import { commented, type Path } from "./yaml";

export function containerSource(consumer: ConsumerDefinition, tag: TagFor): Document {
  const name = consumer.config.durable_name;
  // SOURCE_CONCURRENCY is per replica on the cluster, where KEDA runs several (infra/profiles.ts).
  const clusterSettings = { ...SOURCE_SETTINGS[name], SOURCE_CONCURRENCY: String(SOURCE_PROFILES[name]!.concurrency) };
  const settings = Object.entries(clusterSettings).map(([key, value]) => ({ name: key, value }));
  // The settings as the source will read them, for the comments' figures.
  const delivered = loadSourceConfig({ ...clusterSettings, K_SINK: "http://sink", JS_STREAM: consumer.stream, JS_CONSUMER: name });
  const held = delivered.concurrency * delivered.batchMax;
  const source = {
    apiVersion: "sources.knative.dev/v1",
    kind: "ContainerSource",
    metadata: { name: `source-${name}`, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
    spec: {
      template: {
        metadata: { labels: { ...PART_OF, [SOURCE_LABEL]: name } },
        spec: {
          containers: [
            {
              name: "source",
              image: imageRef("sources", "jetstream", tag),
              imagePullPolicy: "IfNotPresent",
              ports: [{ name: SOURCE_PORT_NAME, containerPort: HTTP_PORT }],
              env: [
                { name: "JS_STREAM", value: consumer.stream },
                { name: "JS_CONSUMER", value: name },
                fromConfig("NATS_URL"),
                { name: "SINK_TIMEOUT_MS", value: String(SINK_TIMEOUT_MS) },
                ...settings,
                LISTEN_EVERYWHERE,
                fromSecret("INTERNAL_SECRET"),
                ...telemetryEnv(`source-${name}`),
              ],
              readinessProbe: { httpGet: { path: "/health/readiness", port: HTTP_PORT }, periodSeconds: 5 },
              livenessProbe: livenessProbe(),
              resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
              securityContext: SECURITY_CONTEXT,
            },
          ],
        },
      },
      sink: { ref: { apiVersion: "serving.knative.dev/v1", kind: "Service", name } },
    },
  };
  const container = ["spec", "template", "spec", "containers", 0];
  const ackWait = ackWaitMs(consumer) / 1000;
  const batched = delivered.batchMax > 1;
  const comments: [Path, string][] = [
    [
      [...container, "env", 3],
      `The code's default, stated because it is one link of a chain: JetStream redelivers after ${ackWait}s (the consumer's ack wait) > ${batched ? `a message waits for its batch (at most ${delivered.batchWaitMs} ms) and ` : ""}the source gives up on the sink after ${SINK_TIMEOUT_MS / 1000}s > Knative cuts the request after ${CONSUMER_TIMEOUT_SECONDS}s. A scale-from-zero of the sink (0.2-0.35 s locally, a few seconds on kind) happens inside that wait.`,
    ],
    [
      [...container, "resources"],
      `One process pulling and forwarding; each replica delivers at most ${held} messages at once (SOURCE_CONCURRENCY ${delivered.concurrency}${batched ? ` × SOURCE_BATCH_MAX ${delivered.batchMax}` : ""}).`,
    ],
    [
      [...container, "ports"],
      "The port the code listens on (PORT unset); declared and named so Prometheus scrapes /metrics there (infra/monitoring).",
    ],
    [
      ["spec", "sink"],
      "Knative resolves this to the function's address and injects it as K_SINK. infra/cluster.sh applies the sources only once the functions are Ready, so the sink resolves at once; until it does, the source's pods exit (K_SINK must be set) and restart.",
    ],
  ];
  if (settings.length > 0) {
    comments.push([
      [...container, "env", 4],
      (batched
        ? `From SOURCE_SETTINGS in shared/config.ts, as the local stack sets them: CloudEvents batched content mode, up to ${delivered.batchMax} events per request, sent when full or after ${delivered.batchWaitMs} ms. `
        : "") +
        `SOURCE_CONCURRENCY ${delivered.concurrency} is per replica, from infra/profiles.ts: KEDA runs up to ${SOURCE_PROFILES[name]!.maxReplicas} replicas on the one durable consumer (see the ScaledObject below).` +
        (batched ? " A refused batch is delivered again one message at a time, so only the refused messages are dead-lettered." : ""),
    ]);
  }
  return commented(
    source,
    comments,
    `${HEADER}\nDelivers JetStream consumer ${consumer.stream}/${name} to the ${name} function as CloudEvents; always on (a Deployment), acking only on 2xx.`,
  );
}

/** The NATS server's monitoring port, which the NATS chart's Service exposes once infra/values/nats.yaml enables it. */
export const NATS_MONITORING_ENDPOINT = `${serviceHost("nats", NATS_NAMESPACE)}:8222`;

/** The Deployment Knative Eventing creates for a ContainerSource: kmeta.ChildName(source, "-deployment"). */
export function sourceDeploymentName(consumer: ConsumerDefinition): string {
  return `source-${consumer.config.durable_name}-deployment`;
}

/** KEDA scales a source's Deployment on its consumer's lag (KEDA's nats-jetstream scaler). */
export function scaledObject(consumer: ConsumerDefinition): Document {
  const name = consumer.config.durable_name;
  const profile = SOURCE_PROFILES[name]!;
  const object = {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: `source-${name}`, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF, [SOURCE_LABEL]: name } },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: sourceDeploymentName(consumer) },
      minReplicaCount: profile.minReplicas,
      maxReplicaCount: profile.maxReplicas,
      pollingInterval: 10,
      triggers: [
        {
          type: "nats-jetstream",
          metadata: {
            natsServerMonitoringEndpoint: NATS_MONITORING_ENDPOINT,
            account: "$G",
            stream: consumer.stream,
            consumer: name,
            lagThreshold: String(profile.lagThreshold),
          },
        },
      ],
    },
  };
  const trigger = ["spec", "triggers", 0, "metadata"];
  return commented(
    object,
    [
      [
        ["spec", "scaleTargetRef"],
        "The Deployment Knative Eventing makes for the ContainerSource. Its reconciler only ever rewrites that Deployment's pod template (reconcileReceiveAdapter, pkg/reconciler/containersource), never its replicas, so it does not fight the HPA KEDA makes.",
      ],
      [["spec", "minReplicaCount"], `Never zero: a source holds its consumer, and a first event should not wait for a pod. ${profile.why}`],
      [
        ["spec", "pollingInterval"],
        "KEDA reads the lag every 10 s (default 30 s); the HPA still waits 5 minutes of lower lag before it removes a replica (its default scale-down stabilization).",
      ],
      [[...trigger, "account"], "The global account: this NATS has no accounts configured."],
      [
        [...trigger, "lagThreshold"],
        `Lag is the consumer's pending plus ack-pending messages; KEDA asks for ceil(lag ÷ ${profile.lagThreshold}) replicas, here above two windows of one replica.`,
      ],
    ],
    `${HEADER}\nScales the ${name} source on consumer ${consumer.stream}/${name}'s lag, between ${profile.minReplicas} and ${profile.maxReplicas} replicas.`,
  );
}
