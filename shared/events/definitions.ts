// The streams and consumers, as defined once in nats/ (the same JSON the nats CLI takes with --config).
import type { ConsumerConfig, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import deadLetters from "../../nats/streams/DEAD_LETTERS.json" with { type: "json" };
import driverLocations from "../../nats/streams/DRIVER_LOCATIONS.json" with { type: "json" };
import trips from "../../nats/streams/TRIPS.json" with { type: "json" };
import assignDriver from "../../nats/consumers/TRIPS/assign-driver.json" with { type: "json" };
import recordLocations from "../../nats/consumers/DRIVER_LOCATIONS/record-locations.json" with { type: "json" };
import settleDeadLetters from "../../nats/consumers/DEAD_LETTERS/settle-dead-letters.json" with { type: "json" };

export const STREAMS = [trips, driverLocations, deadLetters] as unknown as StreamConfig[];

export interface ConsumerDefinition {
  stream: string;
  config: Partial<ConsumerConfig> & { durable_name: string };
}

export const CONSUMERS: ConsumerDefinition[] = [
  { stream: "TRIPS", config: assignDriver as ConsumerDefinition["config"] },
  { stream: "DRIVER_LOCATIONS", config: recordLocations as ConsumerDefinition["config"] },
  { stream: "DEAD_LETTERS", config: settleDeadLetters as ConsumerDefinition["config"] },
];

export const DEAD_LETTER_SUBJECT_PREFIX = "deadletter";

/**
 * What the consumers once had and no longer do. nats.js merges an update into the consumer's current config, so a
 * setting taken out of a file would stay on a consumer created before; each is cleared here.
 *
 * backoff: JetStream measures a nak's delay from the ack wait, then holds the n-th redelivery to backoff[n], so with
 * the list [30 s, 1 min, 2 min] a retry the source asked for in 1 s came 31 s later from the second redelivery on
 * (nats-server processNak and checkPending; definitions.test.ts). The source's own retry delays (nak) and the ack
 * wait cover what the list did.
 */
const REMOVED_SETTINGS: Partial<ConsumerConfig> = { backoff: [] };

/** Creates or updates every stream and consumer; safe to run on every start-up. */
export async function ensureJetStream(jsm: JetStreamManager): Promise<void> {
  for (const stream of STREAMS) {
    try {
      await jsm.streams.info(stream.name);
      await jsm.streams.update(stream.name, stream);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.streams.add(stream);
    }
  }
  for (const { stream, config } of CONSUMERS) {
    try {
      await jsm.consumers.info(stream, config.durable_name);
      await jsm.consumers.update(stream, config.durable_name, { ...REMOVED_SETTINGS, ...config });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.consumers.add(stream, config);
    }
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}
