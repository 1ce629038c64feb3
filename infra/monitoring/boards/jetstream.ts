// JetStream: the consumers' state as the NATS server reports it (backlog, unacknowledged, redelivered),
// the sources' replicas as KEDA scales them, and what the sources did with the messages (acked, retried, dead-lettered; batch sizes).
import { CONSUMERS } from "../../../shared/events/definitions";
import { JOBS } from "../config";
import { FUNCTIONS_NAMESPACE } from "../../manifests/names";
import { KUBE_STATE, NATS } from "../external-metrics";
import type { BoardSpec } from "../grafana";
import { increase, quantile, rate, re, series, sumBy, variable, type Matchers } from "../promql";

const consumers: Matchers = { consumer_name: variable("consumer") };
const sources: Matchers = { job: JOBS.sources, consumer: variable("consumer") };
const PER_CONSUMER = "{{stream_name}}/{{consumer_name}}";

export function jetstreamBoard(): BoardSpec {
  return {
    uid: "uitgo-jetstream",
    title: "UIT-Go / JetStream",
    description: "Consumer backlog, unacknowledged and redelivered messages, and what the JetStream sources did with each message.",
    variables: [{ name: "consumer", label: "Consumer", values: CONSUMERS.map((c) => c.config.durable_name) }],
    sections: [
      {
        title: "Consumers (NATS server)",
        panels: [
          {
            title: "Pending (backlog)",
            description:
              "Messages in the stream the consumer has not been given yet. Growing means the function and its source take less than arrives.",
            unit: "short",
            queries: [{ expr: sumBy(["stream_name", "consumer_name"], series(NATS.consumerPending, consumers)), legend: PER_CONSUMER }],
          },
          {
            title: "Ack pending",
            description:
              "Messages delivered to a source and not yet acknowledged: in flight to the function, or waiting out a nak delay. Capped by the consumer's max_ack_pending.",
            unit: "short",
            queries: [{ expr: sumBy(["stream_name", "consumer_name"], series(NATS.consumerAckPending, consumers)), legend: PER_CONSUMER }],
          },
          {
            title: "Source replicas (KEDA)",
            description:
              "The consumer's JetStream source: replicas available, and those KEDA's HPA asks for (ceil of pending + ack pending ÷ the ScaledObject's lagThreshold, within its minimum and maximum). Desired above available is a source scaling up on a backlog.",
            unit: "short",
            queries: [
              {
                expr: `label_replace(${sumBy(["deployment"], series(KUBE_STATE.deploymentReplicasAvailable, { namespace: FUNCTIONS_NAMESPACE, deployment: re("source-($consumer)-deployment") }))}, "consumer_name", "$1", "deployment", "source-(.+)-deployment")`,
                legend: "{{consumer_name}} available",
              },
              {
                expr: `label_replace(${sumBy(["horizontalpodautoscaler"], series(KUBE_STATE.hpaDesiredReplicas, { namespace: FUNCTIONS_NAMESPACE, horizontalpodautoscaler: re("keda-hpa-source-($consumer)") }))}, "consumer_name", "$1", "horizontalpodautoscaler", "keda-hpa-source-(.+)")`,
                legend: "{{consumer_name}} desired",
              },
            ],
          },
          {
            title: "Redelivered",
            description: "Messages delivered more than once and not yet acknowledged: the function failed or timed out on them.",
            unit: "short",
            queries: [{ expr: sumBy(["stream_name", "consumer_name"], series(NATS.consumerRedelivered, consumers)), legend: PER_CONSUMER }],
          },
          {
            title: "Messages stored per stream",
            description: "Messages each stream holds, within its retention limits.",
            unit: "short",
            queries: [{ expr: sumBy(["stream_name"], series(NATS.streamMessages)), legend: "{{stream_name}}" }],
          },
        ],
      },
      {
        title: "Sources",
        panels: [
          {
            title: "Messages settled per second, by result",
            description:
              "acked: the function answered 2xx. retried: nak'd with a delay after a 5xx, 429 or timeout. dead_lettered: copied to DEAD_LETTERS.",
            unit: "ops",
            queries: [
              { expr: sumBy(["consumer", "result"], rate("uitgo_source_messages_total", sources)), legend: "{{consumer}} {{result}}" },
            ],
          },
          {
            title: "Batched requests per second, by result",
            description: "CloudEvents batches sent to the function. A refused or failed batch is delivered again one message at a time.",
            unit: "reqps",
            queries: [
              { expr: sumBy(["consumer", "result"], rate("uitgo_source_batches_total", sources)), legend: "{{consumer}} {{result}}" },
            ],
          },
          {
            title: "Events per batch p50 / p99",
            description: "How full the batches are. Small under load means the batch wait, not SOURCE_BATCH_MAX, is what sends them.",
            unit: "short",
            queries: [
              { expr: quantile(0.5, "uitgo_source_batch_events_bucket", ["consumer"], sources), legend: "{{consumer}} p50" },
              { expr: quantile(0.99, "uitgo_source_batch_events_bucket", ["consumer"], sources), legend: "{{consumer}} p99" },
            ],
          },
          {
            title: "Dead letters (last 5 min), by cause",
            description:
              "refused: the function answered 4xx. out_of_deliveries: max_deliver reached. source_lost: given up on while its source was gone.",
            unit: "short",
            queries: [
              { expr: sumBy(["consumer", "cause"], increase("uitgo_dead_letters_total", "5m", sources)), legend: "{{consumer}} {{cause}}" },
            ],
          },
          {
            title: "Dead letters settled per second, by outcome",
            description:
              "What settle-dead-letters did with each dead-lettered trip event (a trip that can no longer be matched ends as no_driver).",
            unit: "ops",
            queries: [{ expr: sumBy(["outcome"], rate("uitgo_dead_letters_settled_total")), legend: "{{outcome}}" }],
          },
        ],
      },
    ],
  };
}
