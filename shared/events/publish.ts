// Appending an event to its stream: the promise resolves only once JetStream has stored it, and the
// message id makes a repeated publish (a retried request) a duplicate that the stream drops.
//
// Requests that arrive together are handled one per turn of the event loop, and nats.js writes what a turn
// published in one socket write: one write per event. The events of one turn are held until the turn ends
// and published together instead, so they leave in one write and their acks come back together.
//
// With tracing on, each publish is a producer span, and the message's NATS headers carry its trace context
// (traceparent, tracestate) to the JetStream source, which continues the trace from them.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { Attributes } from "@opentelemetry/api";
import type { Nats } from "../clients/nats";
import { DependencyUnavailable } from "../clients/dependency";
import { SpanKind, contextOf, failed, natsMessage, startSpan, type Span } from "../telemetry/tracing";

interface Outgoing {
  subject: string;
  data: string;
  msgID: string;
  headers?: MsgHdrs;
  settle: (err?: unknown) => void;
}

const waiting = new WeakMap<JetStreamClient, Outgoing[]>();

/** `attributes` go on the publish span (the trip an event is about, say). */
export async function publishEvent(nats: Nats, subject: string, event: object, msgID: string, attributes: Attributes = {}): Promise<void> {
  // Fails at once while NATS is down, so the caller answers 503 without waiting for the turn to end.
  const js = nats.jetstream();
  const span = publishSpan(subject, msgID, attributes);
  return new Promise<void>((resolve, reject) => {
    let turn = waiting.get(js);
    if (!turn) {
      const outgoing: Outgoing[] = [];
      waiting.set(js, outgoing);
      setImmediate(() => publishTurn(js, outgoing));
      turn = outgoing;
    }
    turn.push({
      subject,
      data: JSON.stringify(event),
      msgID,
      ...(span && { headers: nats.headers(contextOf(span)) }),
      settle: (err) => {
        if (err !== undefined && span) failed(span, err);
        span?.end();
        if (err === undefined) resolve();
        else reject(new DependencyUnavailable("nats", err));
      },
    });
  });
}

function publishSpan(subject: string, msgID: string, attributes: Attributes): Span | undefined {
  return startSpan(`publish ${subject}`, {
    kind: SpanKind.PRODUCER,
    attributes: { ...natsMessage(subject, "send", "publish", msgID), ...attributes },
  });
}

function publishTurn(js: JetStreamClient, outgoing: Outgoing[]): void {
  waiting.delete(js);
  for (const { subject, data, msgID, headers: carried, settle } of outgoing) {
    js.publish(subject, data, { msgID, ...(carried && { headers: carried }) }).then(
      () => settle(),
      (err: unknown) => settle(err ?? new Error("publish failed")),
    );
  }
}
