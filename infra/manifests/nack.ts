// The streams and consumers as NACK resources. The JetStream API's fields are mapped one by one, so a
// field NACK would not understand fails rendering instead of being dropped.
import type { Document } from "yaml";
import type { ConsumerDefinition } from "../../shared/events/definitions";
import { HEADER, NATS_NAMESPACE, PART_OF } from "./names";
import { ackWaitMs } from "./timing";
import { commented } from "./yaml";

type Convert = (value: unknown, field: string) => unknown;
const same: Convert = (value) => value;

/** Nanoseconds (the JetStream API's unit) as a Go duration string (NACK's unit). */
export function goDuration(value: unknown, field = "duration"): string {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new Error(`${field}: ${String(value)} is not a whole number of nanoseconds`);
  const units: [number, string][] = [
    [3_600e9, "h"],
    [60e9, "m"],
    [1e9, "s"],
    [1e6, "ms"],
    [1e3, "us"],
  ];
  for (const [size, unit] of units) if (value !== 0 && value % size === 0) return `${value / size}${unit}`;
  return `${value}ns`;
}

const durations: Convert = (value, field) => {
  if (!Array.isArray(value)) throw new Error(`${field} is not a list`);
  return value.map((v) => goDuration(v, field));
};

function renamed(values: Record<string, string>): Convert {
  return (value, field) => {
    const mapped = values[String(value)];
    if (mapped === undefined) throw new Error(`${field}: NACK has no equivalent of "${String(value)}"`);
    return mapped;
  };
}

/** JetStream API field → [NACK v1beta2 field, conversion]. A field missing here fails rendering, so nothing is dropped silently. */
export const STREAM_FIELDS: Readonly<Record<string, readonly [string, Convert]>> = {
  name: ["name", same],
  description: ["description", same],
  subjects: ["subjects", same],
  retention: ["retention", same],
  storage: ["storage", same],
  discard: ["discard", same],
  discard_new_per_subject: ["discardPerSubject", same],
  max_age: ["maxAge", goDuration],
  duplicate_window: ["duplicateWindow", goDuration],
  num_replicas: ["replicas", same],
  max_msgs: ["maxMsgs", same],
  max_bytes: ["maxBytes", same],
  max_msg_size: ["maxMsgSize", same],
  max_msgs_per_subject: ["maxMsgsPerSubject", same],
  max_consumers: ["maxConsumers", same],
  no_ack: ["noAck", same],
  allow_rollup_hdrs: ["allowRollup", same],
  deny_delete: ["denyDelete", same],
  deny_purge: ["denyPurge", same],
  allow_direct: ["allowDirect", same],
  allow_msg_ttl: ["allowMsgTtl", same],
  compression: ["compression", same],
  metadata: ["metadata", same],
};

export const CONSUMER_FIELDS: Readonly<Record<string, readonly [string, Convert]>> = {
  durable_name: ["durableName", same],
  description: ["description", same],
  filter_subject: ["filterSubject", same],
  filter_subjects: ["filterSubjects", same],
  deliver_policy: [
    "deliverPolicy",
    renamed({ all: "all", last: "last", new: "new", by_start_sequence: "byStartSequence", by_start_time: "byStartTime" }),
  ],
  opt_start_seq: ["optStartSeq", same],
  opt_start_time: ["optStartTime", same],
  ack_policy: ["ackPolicy", same],
  ack_wait: ["ackWait", goDuration],
  backoff: ["backoff", durations],
  max_deliver: ["maxDeliver", same],
  max_ack_pending: ["maxAckPending", same],
  max_waiting: ["maxWaiting", same],
  replay_policy: ["replayPolicy", same],
  sample_freq: ["sampleFreq", same],
  headers_only: ["headersOnly", same],
  inactive_threshold: ["inactiveThreshold", goDuration],
  max_batch: ["maxRequestBatch", same],
  max_expires: ["maxRequestExpires", goDuration],
  max_bytes: ["maxRequestMaxBytes", same],
  num_replicas: ["replicas", same],
  mem_storage: ["memStorage", same],
  metadata: ["metadata", same],
};

function convert(source: object, fields: Readonly<Record<string, readonly [string, Convert]>>, where: string): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(source)) {
    const mapping = fields[field];
    if (!mapping) throw new Error(`${where}: "${field}" has no NACK mapping; add it to infra/manifests/nack.ts`);
    spec[mapping[0]] = mapping[1](value, `${where}: ${field}`);
  }
  return spec;
}

/** A Kubernetes name for a JetStream name: DRIVER_LOCATIONS → driver-locations. */
export function kubeName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

export function nackStream(stream: { name: string }): Document {
  const spec = convert(stream, STREAM_FIELDS, `nats/streams/${stream.name}.json`);
  return commented(
    {
      apiVersion: "jetstream.nats.io/v1beta2",
      kind: "Stream",
      metadata: { name: kubeName(stream.name), namespace: NATS_NAMESPACE, labels: { ...PART_OF } },
      spec,
    },
    [],
    `${HEADER}\nStream ${stream.name}, from nats/streams/${stream.name}.json (the file \`nats stream add --config\` takes).`,
  );
}

export function nackConsumer(consumer: ConsumerDefinition): Document {
  const name = consumer.config.durable_name;
  const file = `nats/consumers/${consumer.stream}/${name}.json`;
  const spec = { streamName: consumer.stream, ...convert(consumer.config, CONSUMER_FIELDS, file) };
  return commented(
    {
      apiVersion: "jetstream.nats.io/v1beta2",
      kind: "Consumer",
      metadata: { name: `${kubeName(consumer.stream)}-${name}`, namespace: NATS_NAMESPACE, labels: { ...PART_OF } },
      spec,
    },
    [
      [
        ["spec", "ackWait"],
        `Longer than the source's sink timeout plus a cold start (${ackWaitMs(consumer) / 1000}s). No backoff list: with one, JetStream waits backoff[n] for the n-th redelivery even after the source's nak asked for a shorter delay.`,
      ],
    ],
    `${HEADER}\nConsumer ${consumer.stream}/${name}, from ${file} (the file \`nats consumer add --config\` takes). Pull consumer: its durable name is the function the JetStream source delivers to.`,
  );
}
