// Reading what a stream holds, for assertions on the events a test caused.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** What a consumer has still to settle: messages not yet delivered, and delivered ones not yet acknowledged. */
export async function consumerBacklog(jsm: JetStreamManager, stream: string, consumer: string): Promise<number> {
  const info = await jsm.consumers.info(stream, consumer);
  return info.num_pending + info.num_ack_pending;
}

/** Every message now stored on `subject` in `stream`, oldest first, parsed as JSON. */
export async function storedEvents<T>(nc: NatsConnection, stream: string, subject: string): Promise<T[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  // An ephemeral, unacknowledged consumer that the server removes once the test stops reading (servers
  // before 2.10 take a single filter subject only, which rules out the client's ordered consumer).
  const { name } = await jsm.consumers.add(stream, {
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: 30_000_000_000,
  });
  const consumer = await jetstream(nc).consumers.get(stream, name);
  const found: T[] = [];
  const messages = await consumer.fetch({ max_messages: count, expires: 5_000 });
  for await (const message of messages) {
    found.push(message.json<T>());
    if (found.length === count) break;
  }
  return found;
}
