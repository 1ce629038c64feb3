// A message can run out of deliveries without passing through Delivery's dead-letter step: when the
// source stops (a crash, a node lost) during the message's last delivery, JetStream will not deliver it
// again and only says so in a MAX_DELIVERIES advisory. This watches that advisory and stores the
// dead-letter copy from the stream, under the same message id Delivery would use, so it is stored once.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { deadLettered, publishDeadLetter } from "../../shared/events/dead-letter";
import { log } from "../../shared/log";

interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

export const LOST_REASON = "out of deliveries: the source delivering it stopped before settling it";

export function watchExhausted(
  nc: NatsConnection,
  jsm: JetStreamManager,
  js: JetStreamClient,
  stream: string,
  consumer: string,
  timeoutMs: number,
): Subscription {
  return nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`, {
    callback: (err, advisory) => {
      if (err) return;
      void copyToDeadLetters(advisory.json<MaxDeliveriesAdvisory>()).catch((error: unknown) =>
        log("error", "could not dead-letter a message that ran out of deliveries", { stream, consumer, err: String(error) }),
      );
    },
  });

  async function copyToDeadLetters({ stream_seq: sequence, deliveries }: MaxDeliveriesAdvisory): Promise<void> {
    const stored = await jsm.streams.getMessage(stream, { seq: sequence });
    if (!stored) return;
    await publishDeadLetter(
      js,
      {
        stream,
        consumer,
        subject: stored.subject,
        sequence,
        deliveries,
        data: stored.data,
        ...(stored.header && { headers: stored.header }),
        storedAtMs: stored.time.getTime(),
      },
      LOST_REASON,
      timeoutMs,
    );
    deadLettered.inc({ stream, consumer, cause: "source_lost" });
    log("error", "message dead-lettered from its advisory", { stream, consumer, seq: sequence, deliveries });
  }
}
