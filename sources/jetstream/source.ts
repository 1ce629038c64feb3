// Pulls from one durable consumer and hands each message to Delivery, at most `concurrency` at a time.
import type { Consumer, ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import { log } from "../../shared/log";
import type { Delivery } from "./delivery";

export class JetStreamSource {
  private messages?: ConsumerMessages;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly consumerName: string,
    private readonly delivery: Delivery,
    private readonly concurrency: number,
  ) {}

  /** Runs until stop(); survives NATS restarts and waits for a consumer that does not exist yet. */
  async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const consumer = await this.js.consumers.get(this.stream, this.consumerName);
        await this.pump(consumer);
      } catch (err) {
        if (this.stopping) break;
        log("warn", "consumer unavailable, retrying", { stream: this.stream, consumer: this.consumerName, err: String(err) });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** Stops pulling and waits for the messages already being delivered. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await Promise.allSettled([...this.inFlight]);
  }

  private async pump(consumer: Consumer): Promise<void> {
    const maxDeliver = (await consumer.info(true)).config.max_deliver ?? -1;
    this.messages = await consumer.consume({ max_messages: this.concurrency });
    log("info", "delivering", { stream: this.stream, consumer: this.consumerName, maxDeliver });
    for await (const msg of this.messages) {
      const task = this.delivery.handle(msg, maxDeliver).catch((err: unknown) => {
        log("error", "delivery crashed", { seq: msg.info.streamSequence, err: String(err) });
        msg.nak(1000);
      });
      this.inFlight.add(task);
      void task.finally(() => this.inFlight.delete(task));
      if (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
      if (this.stopping) break;
    }
  }
}
