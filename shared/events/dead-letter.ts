// The dead-letter path: a message that cannot be delivered is copied, with why, to the DEAD_LETTERS
// stream (subject deadletter.<stream>.<consumer>) before it is given up on, so nothing is dropped silently.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { counter } from "../metrics";
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

export const deadLettered = counter(
  "uitgo_dead_letters_total",
  "Messages sent to the dead-letter stream, by why: refused by the sink (4xx), out of deliveries, or lost with a source that stopped",
  ["stream", "consumer", "cause"],
);

/** A message given up on, whether it came from a delivery or was read back from its stream. */
export interface LostMessage {
  stream: string;
  consumer: string;
  subject: string;
  sequence: number;
  deliveries: number;
  data: Uint8Array;
  headers?: MsgHdrs;
  /** When it was first stored: with the sequence, it names the message even if the stream was recreated. */
  storedAtMs: number;
}

export function lostMessageOf(msg: JsMsg): LostMessage {
  const { stream, consumer, streamSequence, deliveryCount } = msg.info;
  return {
    stream,
    consumer,
    subject: msg.subject,
    sequence: streamSequence,
    deliveries: deliveryCount,
    data: msg.data,
    ...(msg.headers && { headers: msg.headers }),
    storedAtMs: Math.floor(msg.info.timestampNanos / 1_000_000),
  };
}

/**
 * Stores a copy of the message with the reason; resolves once the DEAD_LETTERS stream has it. The
 * copy's message id depends only on the message, so copies made twice (two paths, or a retry) are one.
 */
export async function publishDeadLetter(js: JetStreamClient, lost: LostMessage, reason: string, timeoutMs: number): Promise<void> {
  const { stream, consumer, sequence } = lost;
  const h = headers();
  for (const [key, values] of lost.headers ?? []) {
    if (key.toLowerCase() === "nats-msg-id") continue;
    for (const value of values) h.append(key, value);
  }
  h.set(DEAD_LETTER_HEADERS.reason, reason.slice(0, 1024));
  h.set(DEAD_LETTER_HEADERS.stream, stream);
  h.set(DEAD_LETTER_HEADERS.consumer, consumer);
  h.set(DEAD_LETTER_HEADERS.subject, lost.subject);
  h.set(DEAD_LETTER_HEADERS.sequence, String(sequence));
  h.set(DEAD_LETTER_HEADERS.deliveries, String(lost.deliveries));
  await js.publish(deadLetterSubject(stream, consumer), lost.data, {
    headers: h,
    msgID: `deadletter:${stream}:${consumer}:${sequence}:${lost.storedAtMs}`,
    timeout: timeoutMs,
  });
}
