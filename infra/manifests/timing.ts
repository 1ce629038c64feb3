// The chain from JetStream's ack wait down to Knative's request timeout: each link must stay below the
// one above it, so a slow event ends as one failed delivery, never as two at once.
import { DEFAULTS } from "../../shared/config";
import type { ConsumerDefinition } from "../../shared/events/definitions";

/** An HTTP function's request timeout, and (Knative copies it) its pod's termination grace period. */
export const HTTP_TIMEOUT_SECONDS = 30;
/** A consumer function's request timeout: below the source's SINK_TIMEOUT_MS, itself below the consumer's ack wait. */
export const CONSUMER_TIMEOUT_SECONDS = 24;
/** Set on every source, though it is the code's default: it is a link in the chain the comments describe. */
export const SINK_TIMEOUT_MS = DEFAULTS.sinkTimeoutMs;
/** A scale-from-zero on kind (pod scheduled, image already on the node, process up): the source's wait must cover it plus the work. */
export const COLD_START_BUDGET_MS = 5_000;

/** How long JetStream waits for an ack before it redelivers. The consumers have no backoff list (shared/events/definitions.ts). */
export function ackWaitMs(consumer: ConsumerDefinition): number {
  const ns = consumer.config.ack_wait;
  if (ns === undefined) throw new Error(`consumer ${consumer.config.durable_name} has no ack_wait`);
  if (consumer.config.backoff?.length)
    throw new Error(`consumer ${consumer.config.durable_name} has a backoff list, which delays the source's retries`);
  return Number(ns) / 1e6;
}

/**
 * A long-lived connection's revision (infra/profiles.ts longLived). Read in Knative Serving's queue-proxy
 * (pkg/http/handler/timeout.go): timeoutSeconds bounds the whole request, an open stream or WebSocket included, so it
 * is the longest a connection lives; it may not exceed config-defaults' max-revision-timeout-seconds (600 by
 * default, kept: raising it also calls for a longer activator termination grace period, 600 s).
 */
export const STREAM_TIMEOUT_SECONDS = 600;
/** The first byte (the trip's snapshot, or the 101 of a WebSocket) comes within a cold start and a read. */
export const STREAM_RESPONSE_START_TIMEOUT_SECONDS = 10;
