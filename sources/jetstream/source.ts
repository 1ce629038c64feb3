// Pulls from one durable consumer and hands the messages to Delivery, at most `concurrency` deliveries at a time.
// A delivery is one message in binary mode, or with batching on (batch.max > 1) a batch of up to batch.max messages,
// sent when it is full or when its first message has waited batch.waitMs, so a busy stream makes full batches and a
// quiet one still delivers each message promptly.
import type { Consumer, ConsumerMessages, ConsumerNotification, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { log } from "../../shared/log";
import type { Delivery } from "./delivery";

export interface Batching {
  /** Messages per delivery at most; 1 delivers each message alone in binary mode. */
  max: number;
  /** How long the first message of a batch waits for others. */
  waitMs: number;
}

const NO_BATCHING: Batching = { max: 1, waitMs: 0 };

const PULL_EXPIRES_MS = 5_000;

/** The pull consumer's routine notices: a pull sent, a heartbeat received, a pull that expired (408) and what it left. */
function isRoutine(status: ConsumerNotification): boolean {
  return (
    status.type === "next" || status.type === "heartbeat" || status.type === "discard" || (status.type === "debug" && status.code === 408)
  );
}

export class JetStreamSource {
  private messages?: ConsumerMessages;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private batch: JsMsg[] = [];
  private due: NodeJS.Timeout | undefined;
  private maxDeliver = -1;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly consumerName: string,
    private readonly delivery: Delivery,
    private readonly concurrency: number,
    private readonly batching: Batching = NO_BATCHING,
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

  /** Stops pulling, delivers the batch being filled, and waits for the messages already being delivered. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    this.send();
    // A message taken while stopping goes at once (see take), so this ends once the last delivery is settled.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async pump(consumer: Consumer): Promise<void> {
    this.maxDeliver = (await consumer.info(true)).config.max_deliver ?? -1;
    // Enough to fill every delivery the window allows, and no more: each pulled message's ack wait is already running.
    // Pull requests that expire after PULL_EXPIRES_MS rather than nats.js's 30 s: a consumer that stops being handed
    // messages while the client still counts on its pulls (seen once under heavy load, deliveries due and nothing
    // handed over for 24 s) finds out through the missed heartbeats (half of it) and pulls again, within seconds.
    this.messages = await consumer.consume({ max_messages: this.concurrency * this.batching.max, expires: PULL_EXPIRES_MS });
    void this.report(this.messages);
    log("info", "delivering", {
      stream: this.stream,
      consumer: this.consumerName,
      maxDeliver: this.maxDeliver,
      batchMax: this.batching.max,
    });
    for await (const msg of this.messages) {
      this.take(msg);
      // A message is taken only while a delivery slot is free, so the batch being filled always has one to go to,
      // whether it fills up or its wait runs out.
      if (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
      if (this.stopping) break;
    }
  }

  /**
   * Logs what the pull consumer says of its own trouble (heartbeats missed, the consumer or stream gone, a pull the
   * server cut short): without it, a source that receives nothing looks exactly like a stream with nothing in it.
   */
  private async report(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const status of messages.status()) {
        if (!isRoutine(status)) log("warn", "consumer status", { stream: this.stream, consumer: this.consumerName, ...status });
      }
    } catch (err) {
      // The notices end with the messages; an error there is the messages' own, which run() already handles.
      log("warn", "consumer status ended", { stream: this.stream, consumer: this.consumerName, err: String(err) });
    }
  }

  private take(msg: JsMsg): void {
    this.batch.push(msg);
    if (this.batch.length >= this.batching.max || this.stopping) this.send();
    else this.due ??= setTimeout(() => this.send(), this.batching.waitMs);
  }

  private send(): void {
    clearTimeout(this.due);
    this.due = undefined;
    const msgs = this.batch;
    if (msgs.length === 0) return;
    this.batch = [];
    const task = (
      this.batching.max === 1 ? this.delivery.handle(msgs[0]!, this.maxDeliver) : this.delivery.handleBatch(msgs, this.maxDeliver)
    ).catch((err: unknown) => {
      log("error", "delivery crashed", { seqs: msgs.map((msg) => msg.info.streamSequence), err: String(err) });
      for (const msg of msgs) msg.nak(1000);
    });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }
}
