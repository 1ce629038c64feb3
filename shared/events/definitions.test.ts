// The consumers as JetStream runs them, on the real server: a retry the source asks for comes when it asked.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../config";
import { CONSUMERS, ensureJetStream, type ConsumerDefinition } from "./definitions";

const NAK_DELAY_MS = 300;
const NAKS = 3;

let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: loadConfig().natsUrl });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc.close();
});

/** The time between one delivery of a message and the next, each delivery nak'd with NAK_DELAY_MS until the last. */
async function redeliveryGaps({ config }: ConsumerDefinition): Promise<number[]> {
  const stream = `NAK_DELAY_${config.durable_name.replaceAll("-", "_").toUpperCase()}`;
  const subject = `nakdelay.${config.durable_name}`;
  await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [subject] });
  try {
    await jsm.consumers.add(stream, { ...config, durable_name: "nak-delay", filter_subject: subject });
    const js = jetstream(nc);
    await js.publish(subject, "x");
    const messages = await (await js.consumers.get(stream, "nak-delay")).consume({ max_messages: 1, expires: 5_000 });
    // Well short of the 31 s a backoff list made of the second redelivery.
    const giveUp = setTimeout(() => messages.stop(), 15_000);
    const gaps: number[] = [];
    let last: number | undefined;
    for await (const msg of messages) {
      const now = performance.now();
      if (last !== undefined) gaps.push(now - last);
      last = now;
      if (msg.info.deliveryCount > NAKS) {
        msg.ack();
        break;
      }
      msg.nak(NAK_DELAY_MS);
    }
    clearTimeout(giveUp);
    return gaps;
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
}

describe("the consumers", () => {
  it.each(CONSUMERS.map((consumer) => [consumer.config.durable_name, consumer] as const))(
    "%s redelivers a nak'd message after the delay the nak asked for, delivery after delivery",
    async (_name, consumer) => {
      const gaps = await redeliveryGaps(consumer);
      expect(gaps).toHaveLength(NAKS);
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(NAK_DELAY_MS - 20);
        expect(gap).toBeLessThan(NAK_DELAY_MS + 5_000);
      }
    },
  );

  it("lose a setting the definitions no longer have when they are provisioned again", async () => {
    const { stream, config } = CONSUMERS[0]!;
    await jsm.consumers.update(stream, config.durable_name, { backoff: [30_000_000_000, 60_000_000_000] });
    expect((await jsm.consumers.info(stream, config.durable_name)).config.backoff).toHaveLength(2);
    await ensureJetStream(jsm);
    expect((await jsm.consumers.info(stream, config.durable_name)).config.backoff ?? []).toEqual([]);
  });
});
