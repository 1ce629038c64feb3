// The names CloudEvents 1.0 and its HTTP binding give to what travels, written once for the source that sends events,
// the functions that take them, the schedules and the tests. Names only, with no imports: every function's overload
// guard needs the binary-mode marker, and linking the codecs for it would grow the bundles that never take an event.

export const SPEC_VERSION = "1.0";

/** The extensions this system adds to the context attributes. */
export const EXTENSIONS = {
  /** How many times JetStream has delivered the message: what a receiver sizes its Retry-After by. */
  deliveries: "natsdeliveries",
  /** The internal senders' secret (shared/http/internal-sender.ts): an extension so a PingSource can send it too. */
  sender: "uitgosender",
  /**
   * The CloudEvents distributed tracing extension: the W3C Trace Context of the event, which the JetStream source continues
   * from the message's NATS headers (shared/telemetry/tracing.ts), in every event of a batch and as ce-traceparent in binary mode.
   */
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;

/** Binary mode carries each attribute in a header of its own: ce-<attribute> (HTTP protocol binding §3.1.3). */
export const HEADER_PREFIX = "ce-";

export function headerOf(attribute: string): string {
  return `${HEADER_PREFIX}${attribute}`;
}

export const HEADERS = {
  specversion: headerOf("specversion"),
  id: headerOf("id"),
  source: headerOf("source"),
  type: headerOf("type"),
  subject: headerOf("subject"),
  time: headerOf("time"),
  deliveries: headerOf(EXTENSIONS.deliveries),
  sender: headerOf(EXTENSIONS.sender),
  traceparent: headerOf(EXTENSIONS.traceparent),
  tracestate: headerOf(EXTENSIONS.tracestate),
} as const;

/** Batched content mode (§3.3): a JSON array of structured-mode events. */
export const BATCH_CONTENT_TYPE = "application/cloudevents-batch+json";

/**
 * Whether a request says it carries CloudEvents, from its headers alone: binary mode by ce-specversion, the structured
 * and batched modes by their content type.
 */
export function saysCloudEvent(specversion: string | undefined, contentType: string | undefined): boolean {
  return specversion !== undefined || (contentType?.startsWith("application/cloudevents") ?? false);
}
