// Delivers JetStream messages to the sink and settles each one: ack on 2xx, dead-letter on a
// refusal or after the last allowed delivery, otherwise nak with a growing delay, or later when the
// sink asks for it in Retry-After (as Knative Eventing's dispatchers honour it on 429 and 503).
// Messages go one per request (binary mode) or many per request (batched mode); a batch refused (4xx) or
// failed with a 500 is delivered again one message at a time, so only the messages at fault stay at fault.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { CloudEvent } from "../../shared/cloudevents/event";
import { toBatch, type HttpMessage } from "../../shared/cloudevents/http-binding";
import { deadLettered, lostMessageOf, publishDeadLetter } from "../../shared/events/dead-letter";
import { SENDER_HEADER } from "../../shared/http/internal-sender";
import { log } from "../../shared/log";
import { counter, histogram } from "../../shared/metrics";
import { binaryCloudEvent, structuredCloudEvent } from "./cloudevent";
import { postToSink } from "./sink";
import { traceDelivery, type DeliveryTrace } from "../../shared/telemetry/delivery";

export interface DeliveryOptions {
  sink: string;
  ceOverrides: Record<string, string>;
  /** Shown to the sink with every delivery (an internal function refuses senders without it). */
  internalSecret: string | undefined;
  sinkTimeoutMs: number;
  publishTimeoutMs: number;
}

const settled = counter("uitgo_source_messages_total", "Messages settled by the JetStream source, by result", ["consumer", "result"]);
const batches = counter("uitgo_source_batches_total", "Batched-mode requests made by the JetStream source, by result", [
  "consumer",
  "result",
]);
const batchSize = histogram(
  "uitgo_source_batch_events",
  "Events per batched-mode request",
  ["consumer"],
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
);

const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;

export type Verdict =
  { kind: "delivered" } | { kind: "refused"; reason: string } | { kind: "failed"; reason: string; retryAfterMs?: number; status?: number };

export class Delivery {
  constructor(
    private readonly js: JetStreamClient,
    private readonly options: DeliveryOptions,
  ) {}

  /** `maxDeliver` is the consumer's: the delivery after which JetStream will not redeliver (≤ 0: no limit). */
  async handle(msg: JsMsg, maxDeliver: number): Promise<void> {
    const traced = traceDelivery(msg);
    await traced.run(async () => {
      const verdict = await this.post(binaryCloudEvent(msg, this.options.ceOverrides, traced.carried));
      await this.settle(msg, verdict, maxDeliver);
      traced.end(verdict.kind, problemOf(verdict));
    });
  }

  /** Delivers the messages in one batched-mode request, and settles each by the answer to it. */
  async handleBatch(msgs: readonly JsMsg[], maxDeliver: number): Promise<void> {
    const carried: JsMsg[] = [];
    const events: CloudEvent[] = [];
    const traces: DeliveryTrace[] = [];
    const alone: JsMsg[] = [];
    for (const msg of msgs) {
      const traced = traceDelivery(msg);
      const event = structuredCloudEvent(msg, this.options.ceOverrides, traced.carried);
      if (event) {
        carried.push(msg);
        events.push(event);
        traces.push(traced);
      } else {
        traced.end("sent alone");
        alone.push(msg);
      }
    }
    await Promise.all([this.deliverBatch(carried, events, traces, maxDeliver), ...alone.map((msg) => this.handle(msg, maxDeliver))]);
  }

  private async deliverBatch(msgs: JsMsg[], events: CloudEvent[], traces: DeliveryTrace[], maxDeliver: number): Promise<void> {
    if (msgs.length === 0) return;
    const consumer = msgs[0]!.info.consumer;
    batchSize.observe({ consumer }, msgs.length);
    const verdict = await this.post(toBatch(events));
    batches.inc({ consumer, result: verdict.kind });
    // A refusal says something in the batch is unacceptable. A 500 says the sink broke on something it was given, which
    // in a batch may be one event's doing (a row the store refuses); a 503, a 502 or no answer says nothing about the
    // events, so those are retried as a batch.
    const mayBeOneEvent = verdict.kind === "refused" || (verdict.kind === "failed" && verdict.status === 500);
    if (!mayBeOneEvent) {
      await Promise.all(
        msgs.map((msg, i) =>
          traces[i]!.run(async () => {
            await this.settle(msg, verdict, maxDeliver);
            traces[i]!.end(verdict.kind, problemOf(verdict));
          }),
        ),
      );
      return;
    }
    for (const traced of traces) traced.end("batch not taken", verdict.reason);
    // Delivered alone, each message is refused, failed or taken on its own merits. All at once, so a sink that writes
    // in groups writes them together; working() restarts each ack wait, which the batch's own delivery has used part of.
    log("warn", "batch not taken, delivering its messages one at a time", { consumer, messages: msgs.length, reason: verdict.reason });
    await Promise.all(
      msgs.map((msg) => {
        msg.working();
        return this.handle(msg, maxDeliver);
      }),
    );
  }

  private async settle(msg: JsMsg, verdict: Verdict, maxDeliver: number): Promise<void> {
    const { consumer, deliveryCount } = msg.info;
    if (verdict.kind === "delivered") {
      msg.ack();
      settled.inc({ consumer, result: "acked" });
      return;
    }
    const lastChance = maxDeliver > 0 && deliveryCount >= maxDeliver;
    if (verdict.kind === "refused" || lastChance) {
      await this.deadLetter(msg, verdict.reason);
      deadLettered.inc({ stream: msg.info.stream, consumer, cause: verdict.kind === "refused" ? "refused" : "out_of_deliveries" });
      return;
    }
    // Never sooner than our own backoff: a dependency's fixed Retry-After would use up the deliveries in a minute.
    const retryInMs = Math.max(verdict.retryAfterMs ?? 0, retryDelay(deliveryCount));
    msg.nak(retryInMs);
    settled.inc({ consumer, result: "retried" });
    // A sink that names its own retry time is working as designed (a trip waiting for a driver): no warning.
    const level = verdict.retryAfterMs === undefined ? "warn" : "info";
    log(level, "delivery not done, will retry", {
      subject: msg.subject,
      seq: msg.info.streamSequence,
      deliveryCount,
      retryInMs,
      reason: verdict.reason,
    });
  }

  private async post({ headers, body }: HttpMessage): Promise<Verdict> {
    const { internalSecret } = this.options;
    if (internalSecret !== undefined) headers[SENDER_HEADER] = internalSecret;
    try {
      const response = await postToSink(this.options.sink, headers, body, this.options.sinkTimeoutMs);
      if (response.status >= 200 && response.status < 300) return { kind: "delivered" };
      const reason = `sink answered ${response.status}: ${response.body.slice(0, 512)}`;
      // A 4xx other than 408/429 says the event itself is unacceptable: retrying cannot help. A 401 says the sink does
      // not know this source (a secret being rotated), nothing about the event, so it is retried rather than dead-lettered.
      const permanent = response.status >= 400 && response.status < 500 && ![401, 408, 429].includes(response.status);
      if (permanent) return { kind: "refused", reason };
      const retryAfterMs = retryAfter(response.retryAfter);
      return { kind: "failed", reason, status: response.status, ...(retryAfterMs !== undefined && { retryAfterMs }) };
    } catch (err) {
      return { kind: "failed", reason: `sink unreachable: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  // The message is terminated only after its copy is stored. While NATS cannot take the copy, the
  // message is kept in progress and the copy retried, so it is never lost between the two streams.
  private async deadLetter(msg: JsMsg, reason: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await publishDeadLetter(this.js, lostMessageOf(msg), reason, this.options.publishTimeoutMs);
        // No reason on term: servers before 2.10 do not parse one and would leave the message pending.
        msg.term();
        settled.inc({ consumer: msg.info.consumer, result: "dead_lettered" });
        log("error", "message dead-lettered", {
          subject: msg.subject,
          seq: msg.info.streamSequence,
          deliveries: msg.info.deliveryCount,
          reason,
        });
        return;
      } catch (err) {
        log("error", "dead-letter publish failed, retrying", { seq: msg.info.streamSequence, attempt, err: String(err) });
        msg.working();
        await new Promise((resolve) => setTimeout(resolve, retryDelay(attempt)));
      }
    }
  }
}

function problemOf(verdict: Verdict): string | undefined {
  return verdict.kind === "delivered" ? undefined : verdict.reason;
}

/** Retry-After in seconds (the sink's HTTP-date form is not used here), capped like our own delays. */
function retryAfter(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(RETRY_MAX_MS, Number(header) * 1000);
}

/** Exponential, jittered within its upper half so retries spread out: about 0.5 s, 1 s, 2 s … up to 30 s. */
export function retryDelay(deliveryCount: number): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
