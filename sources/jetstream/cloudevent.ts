// A JetStream message as a CloudEvent: its context attributes and extensions, the same in both content modes the
// source sends (shared/cloudevents/http-binding.ts).
import type { JsMsg } from "@nats-io/jetstream";
import type { CloudEvent } from "../../shared/cloudevents/event";
import { toBinary, toStructured, type HttpMessage, type OutgoingAttributes } from "../../shared/cloudevents/http-binding";
import { EXTENSIONS } from "../../shared/cloudevents/spec";
import { eventType } from "../../shared/cloudevents/types";

/** `carried`: the trace context the event continues (shared/telemetry/delivery.ts), as the tracing extension's attributes. */
function attributes(msg: JsMsg, ceOverrides: Record<string, string>, carried: Record<string, string>): OutgoingAttributes {
  const { stream, streamSequence, deliveryCount } = msg.info;
  const attributes: OutgoingAttributes = {
    // The publisher's message id is stable across redeliveries and republishes; the sequence is the fallback.
    id: msg.headers?.get("Nats-Msg-Id") || `${stream}-${streamSequence}`,
    source: `nats://jetstream/${stream}`,
    type: eventType(msg.subject),
    subject: msg.subject,
    time: msg.time.toISOString(),
    [EXTENSIONS.deliveries]: String(deliveryCount),
    ...carried,
  };
  for (const [name, value] of Object.entries(ceOverrides)) attributes[name.toLowerCase()] = value;
  return attributes;
}

function contentType(msg: JsMsg): string {
  return msg.headers?.get("Content-Type") || "application/json";
}

/** The message alone, in binary mode, its bytes untouched. */
export function binaryCloudEvent(msg: JsMsg, ceOverrides: Record<string, string>, carried: Record<string, string> = {}): HttpMessage {
  return toBinary(attributes(msg, ceOverrides, carried), contentType(msg), msg.data);
}

/** The message as one event of a batch, or undefined when it must go alone (toStructured). */
export function structuredCloudEvent(
  msg: JsMsg,
  ceOverrides: Record<string, string>,
  carried: Record<string, string> = {},
): CloudEvent | undefined {
  return toStructured(attributes(msg, ceOverrides, carried), contentType(msg), msg.data);
}
