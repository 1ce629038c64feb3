// Appending an event to its stream: the promise resolves only once JetStream has stored it, and the
// message id makes a repeated publish (a retried request) a duplicate that the stream drops.
import type { Nats } from "../clients/nats";
import { DependencyUnavailable } from "../http/errors";

export async function publishEvent(nats: Nats, subject: string, event: object, msgID: string): Promise<void> {
  const js = nats.jetstream();
  try {
    await js.publish(subject, JSON.stringify(event), { msgID });
  } catch (err) {
    throw new DependencyUnavailable("nats", err);
  }
}
