// The dead-letter path: a message that cannot be delivered is copied, with why, to the DEAD_LETTERS
// stream (subject deadletter.<stream>.<consumer>) before it is given up on, so nothing is dropped silently.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { DEAD_LETTER_SUBJECT_PREFIX } from "./definitions";

export const DEAD_LETTER_HEADERS = {
  reason: "Uitgo-Dead-Letter-Reason",
  stream: "Uitgo-Dead-Letter-Stream",
  consumer: "Uitgo-Dead-Letter-Consumer",
  subject: "Uitgo-Dead-Letter-Subject",
  sequence: "Uitgo-Dead-Letter-Sequence",
  deliveries: "Uitgo-Dead-Letter-Deliveries",
} as const;

export function deadLetterSubject(stream: string, consumer: string): string {
  return `${DEAD_LETTER_SUBJECT_PREFIX}.${stream}.${consumer}`;
}

/** Stores a copy of the message with the reason; resolves once the DEAD_LETTERS stream has it. */
export async function publishDeadLetter(js: JetStreamClient, msg: JsMsg, reason: string, timeoutMs: number): Promise<void> {
  const { stream, consumer, streamSequence, deliveryCount } = msg.info;
  const h = headers();
  for (const [key, values] of msg.headers ?? []) {
    if (key.toLowerCase() === "nats-msg-id") continue;
    for (const value of values) h.append(key, value);
  }
  h.set(DEAD_LETTER_HEADERS.reason, reason.slice(0, 1024));
  h.set(DEAD_LETTER_HEADERS.stream, stream);
  h.set(DEAD_LETTER_HEADERS.consumer, consumer);
  h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
  h.set(DEAD_LETTER_HEADERS.sequence, String(streamSequence));
  h.set(DEAD_LETTER_HEADERS.deliveries, String(deliveryCount));
  await js.publish(deadLetterSubject(stream, consumer), msg.data, {
    headers: h,
    // The sequence alone could repeat if the stream were recreated; with the original timestamp it cannot.
    msgID: `deadletter:${stream}:${consumer}:${streamSequence}:${msg.timestampNanos}`,
    timeout: timeoutMs,
  });
}
