// Appending an event to its stream: the promise resolves only once JetStream has stored it, and the
// message id makes a repeated publish (a retried request) a duplicate that the stream drops.
//
// Requests that arrive together are handled one per turn of the event loop, and nats.js writes what a turn
// published in one socket write: one write per event. The events of one turn are held until the turn ends
// and published together instead, so they leave in one write and their acks come back together.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Nats } from "../clients/nats";
import { DependencyUnavailable } from "../clients/dependency";

interface Outgoing {
  subject: string;
  data: string;
  msgID: string;
  settle: (err?: unknown) => void;
}

const waiting = new WeakMap<JetStreamClient, Outgoing[]>();

export async function publishEvent(nats: Nats, subject: string, event: object, msgID: string): Promise<void> {
  // Fails at once while NATS is down, so the caller answers 503 without waiting for the turn to end.
  const js = nats.jetstream();
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
      settle: (err) => (err === undefined ? resolve() : reject(new DependencyUnavailable("nats", err))),
    });
  });
}

function publishTurn(js: JetStreamClient, outgoing: Outgoing[]): void {
  waiting.delete(js);
  for (const { subject, data, msgID, settle } of outgoing) {
    js.publish(subject, data, { msgID }).then(
      () => settle(),
      (err: unknown) => settle(err ?? new Error("publish failed")),
    );
  }
}
