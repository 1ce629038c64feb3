// A JetStream message as a CloudEvent (HTTP protocol binding 1.0), in either content mode: binary (attributes in ce-*
// headers, data as the body) or structured, as one event of a batch (attributes and data in one JSON object).
import type { JsMsg } from "@nats-io/jetstream";
import { isJsonMediaType, type StructuredCloudEvent } from "../../shared/http/cloudevent-batch";

/** The context attributes and extensions, the same in both modes. */
function attributes(msg: JsMsg, ceOverrides: Record<string, string>): Record<string, string> {
  const { stream, streamSequence, deliveryCount } = msg.info;
  const attributes: Record<string, string> = {
    specversion: "1.0",
    // The publisher's message id is stable across redeliveries and republishes; the sequence is the fallback.
    id: msg.headers?.get("Nats-Msg-Id") || `${stream}-${streamSequence}`,
    source: `nats://jetstream/${stream}`,
    type: eventType(msg.subject),
    subject: msg.subject,
    time: msg.time.toISOString(),
    natsdeliveries: String(deliveryCount),
  };
  for (const [name, value] of Object.entries(ceOverrides)) attributes[name.toLowerCase()] = value;
  return attributes;
}

function contentType(msg: JsMsg): string {
  return msg.headers?.get("Content-Type") || "application/json";
}

export function cloudEventHeaders(msg: JsMsg, ceOverrides: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { "content-type": contentType(msg) };
  for (const [name, value] of Object.entries(attributes(msg, ceOverrides))) headers[`ce-${name}`] = value;
  return headers;
}

/**
 * The message as one event of a batch, or undefined when its data says it is JSON but is not: the batch could not
 * carry it as it is, so it goes alone in binary mode, bytes untouched, and the sink decides what to make of it.
 */
export function structuredCloudEvent(msg: JsMsg, ceOverrides: Record<string, string>): StructuredCloudEvent | undefined {
  const datacontenttype = contentType(msg);
  const event = { ...attributes(msg, ceOverrides), datacontenttype } as StructuredCloudEvent;
  if (!isJsonMediaType(datacontenttype)) {
    event.data_base64 = Buffer.from(msg.data).toString("base64");
    return event;
  }
  try {
    // Parsed rather than pasted in as text: only a value that is JSON can go in, never one that would end the event early.
    event.data = JSON.parse(msg.string());
  } catch {
    return undefined;
  }
  return event;
}

/** Subjects are <domain>.<event>.<region>: the type is the subject without its region ("trips.requested"). */
export function eventType(subject: string): string {
  const tokens = subject.split(".");
  return tokens.length > 1 ? tokens.slice(0, -1).join(".") : subject;
}
