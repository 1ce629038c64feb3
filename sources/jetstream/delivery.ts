// Delivers JetStream messages to the sink and settles each one: ack on 2xx, dead-letter on a
// refusal or after the last allowed delivery, otherwise nak with a growing delay, or later when the
// sink asks for it in Retry-After (as Knative Eventing's dispatchers honour it on 429 and 503).
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { deadLettered, lostMessageOf, publishDeadLetter } from "../../shared/events/dead-letter";
import { log } from "../../shared/log";
import { counter } from "../../shared/metrics";
import { cloudEventHeaders } from "./cloudevent";

export interface DeliveryOptions {
  sink: string;
  ceOverrides: Record<string, string>;
  sinkTimeoutMs: number;
  publishTimeoutMs: number;
}

const settled = counter("uitgo_source_messages_total", "Messages settled by the JetStream source, by result", ["consumer", "result"]);

const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;

export type Verdict =
  | { kind: "delivered" }
  | { kind: "refused"; reason: string }
  | { kind: "failed"; reason: string; retryAfterMs?: number };

export class Delivery {
  constructor(
    private readonly js: JetStreamClient,
    private readonly options: DeliveryOptions,
  ) {}

  /** `maxDeliver` is the consumer's: the delivery after which JetStream will not redeliver (≤ 0: no limit). */
  async handle(msg: JsMsg, maxDeliver: number): Promise<void> {
    const verdict = await this.deliver(msg);
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
    msg.nak(Math.max(verdict.retryAfterMs ?? 0, retryDelay(deliveryCount)));
    settled.inc({ consumer, result: "retried" });
    // A sink that names its own retry time is working as designed (a trip waiting for a driver): no warning.
    const level = verdict.retryAfterMs === undefined ? "warn" : "info";
    log(level, "delivery not done, will retry", { subject: msg.subject, seq: msg.info.streamSequence, deliveryCount, reason: verdict.reason });
  }

  private async deliver(msg: JsMsg): Promise<Verdict> {
    try {
      const response = await fetch(this.options.sink, {
        method: "POST",
        headers: cloudEventHeaders(msg, this.options.ceOverrides),
        body: msg.data,
        signal: AbortSignal.timeout(this.options.sinkTimeoutMs),
      });
      const body = await response.text();
      if (response.ok) return { kind: "delivered" };
      const reason = `sink answered ${response.status}: ${body.slice(0, 512)}`;
      // A 4xx other than 408/429 says the event itself is unacceptable: retrying cannot help.
      const permanent = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
      if (permanent) return { kind: "refused", reason };
      const retryAfterMs = retryAfter(response.headers.get("retry-after"));
      return retryAfterMs === undefined ? { kind: "failed", reason } : { kind: "failed", reason, retryAfterMs };
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
        log("error", "message dead-lettered", { subject: msg.subject, seq: msg.info.streamSequence, deliveries: msg.info.deliveryCount, reason });
        return;
      } catch (err) {
        log("error", "dead-letter publish failed, retrying", { seq: msg.info.streamSequence, attempt, err: String(err) });
        msg.working();
        await new Promise((resolve) => setTimeout(resolve, retryDelay(attempt)));
      }
    }
  }
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
