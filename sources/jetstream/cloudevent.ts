// A JetStream message as a binary-mode CloudEvent (HTTP protocol binding 1.0): attributes in ce-* headers, data as the body.
import type { JsMsg } from "@nats-io/jetstream";

export function cloudEventHeaders(msg: JsMsg, ceOverrides: Record<string, string>): Record<string, string> {
  const { stream, streamSequence, deliveryCount } = msg.info;
  const headers: Record<string, string> = {
    "content-type": msg.headers?.get("Content-Type") || "application/json",
    "ce-specversion": "1.0",
    // The publisher's message id is stable across redeliveries and republishes; the sequence is the fallback.
    "ce-id": msg.headers?.get("Nats-Msg-Id") || `${stream}-${streamSequence}`,
    "ce-source": `nats://jetstream/${stream}`,
    "ce-type": eventType(msg.subject),
    "ce-subject": msg.subject,
    "ce-time": msg.time.toISOString(),
    "ce-natsdeliveries": String(deliveryCount),
  };
  for (const [name, value] of Object.entries(ceOverrides)) headers[`ce-${name.toLowerCase()}`] = value;
  return headers;
}

/** Subjects are <domain>.<event>.<region>: the type is the subject without its region ("trips.requested"). */
export function eventType(subject: string): string {
  const tokens = subject.split(".");
  return tokens.length > 1 ? tokens.slice(0, -1).join(".") : subject;
}
