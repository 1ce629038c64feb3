// The types of the events the functions take, as their senders name them. The JetStream source names a message's
// type after its subject (eventType), so a stream's types follow from its subjects; a PingSource names its own.

/** A trip waiting for a driver (subject trips.requested.<region>); also the `type` inside a trip event's data. */
export const TRIP_REQUESTED_TYPE = "trips.requested";

/** Driver locations of one region (subject drivers.location.<region>); also the `type` inside a location event's data. */
export const DRIVER_LOCATION_TYPE = "drivers.location";

/** A trip event that assign-driver could not take, copied to DEAD_LETTERS as deadletter.TRIPS.<consumer>. */
export const TRIP_DEAD_LETTER_TYPE = "deadletter.TRIPS";

/** What every Knative PingSource sends. */
export const PING_TYPE = "dev.knative.sources.ping";

/** Subjects are <domain>.<event>.<region>: the type is the subject without its region ("trips.requested"). */
export function eventType(subject: string): string {
  const tokens = subject.split(".");
  return tokens.length > 1 ? tokens.slice(0, -1).join(".") : subject;
}
