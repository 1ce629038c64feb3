// The JetStream source's part of a trace. Each delivery attempt of a message is a consumer span ("process
// trips.requested.vn") continuing the publisher's context from the message's NATS headers, and the first attempt is
// preceded by a span for the time the message waited in the stream (from its stream timestamp to the moment the source
// got it). The attempt's context goes on in the event's traceparent extension, so the receiving function continues it.
import type { JsMsg } from "@nats-io/jetstream";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { MESSAGING, TRACEPARENT, TRACESTATE, UITGO, contextOf, extractContext, inSpan, natsMessage, startSpan, tracing } from "./tracing";

export interface DeliveryTrace {
  /** traceparent/tracestate for the event: this attempt's span's, or with tracing off the message's own, passed on unchanged. */
  readonly carried: Record<string, string>;
  /** Runs `work` in this attempt's span, so what it logs carries its trace id. */
  run<T>(work: () => T): T;
  /** `outcome`: how the attempt was settled; `problem`, when it was not delivered, why. */
  end(outcome: string, problem?: string): void;
}

export function traceDelivery(msg: JsMsg): DeliveryTrace {
  const lookup = (name: string) => msg.headers?.get(name) || undefined;
  if (!tracing()) return { carried: passedOn(lookup), run: (work) => work(), end: () => {} };

  const parent = extractContext(lookup);
  const received = Date.now();
  const { stream, consumer, deliveryCount } = msg.info;
  const stored = msg.time.getTime();
  const subject = msg.subject;
  if (deliveryCount === 1) {
    startSpan(`wait in ${stream}`, { startTime: stored, attributes: { [MESSAGING.destination]: subject } }, parent)?.end(received);
  }
  const span = startSpan(
    `process ${subject}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        ...natsMessage(subject, "process", "deliver", lookup("Nats-Msg-Id") ?? `${stream}-${msg.info.streamSequence}`),
        [MESSAGING.consumerGroup]: consumer,
        [UITGO.deliveryAttempt]: deliveryCount,
        [UITGO.streamWaitMs]: Math.max(0, received - stored),
      },
    },
    parent,
  )!;
  return {
    carried: contextOf(span),
    run: (work) => inSpan(span, work),
    end: (outcome, problem) => {
      span.setAttribute(UITGO.outcome, outcome);
      if (problem !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: problem });
      span.end();
    },
  };
}

function passedOn(lookup: (name: string) => string | undefined): Record<string, string> {
  const carried: Record<string, string> = {};
  const traceparent = lookup(TRACEPARENT);
  if (traceparent === undefined) return carried;
  carried[TRACEPARENT] = traceparent;
  const tracestate = lookup(TRACESTATE);
  if (tracestate !== undefined) carried[TRACESTATE] = tracestate;
  return carried;
}
