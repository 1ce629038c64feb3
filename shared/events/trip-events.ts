// Trip lifecycle events on the TRIPS stream: subject trips.<type>.<region>, deduplicated by Nats-Msg-Id.
import { DependencyUnavailable } from "../http/errors";
import type { Nats } from "../clients/nats";
import { regionOfTripId } from "../trips/trip-id";
import type { Trip } from "../trips/trip";

export const TRIP_EVENT_TYPES = ["requested", "assigned", "unassigned", "accepted", "completed", "cancelled"] as const;
export type TripEventType = (typeof TRIP_EVENT_TYPES)[number];

export const TRIP_EVENT_SCHEMA_VERSION = 1;

export interface TripEvent {
  schemaVersion: typeof TRIP_EVENT_SCHEMA_VERSION;
  type: `trips.${TripEventType}`;
  time: string;
  trip: Trip;
}

export function tripSubject(type: TripEventType, trip: Pick<Trip, "id">): string {
  return `trips.${type}.${regionOfTripId(trip.id)}`;
}

export class TripEvents {
  constructor(private readonly nats: Nats) {}

  /** Publishes and waits for the stream to store it. The message id makes a repeated publish a no-op. */
  async publish(type: TripEventType, trip: Trip): Promise<void> {
    const event: TripEvent = { schemaVersion: TRIP_EVENT_SCHEMA_VERSION, type: `trips.${type}`, time: new Date().toISOString(), trip };
    const js = this.nats.jetstream();
    try {
      await js.publish(tripSubject(type, trip), JSON.stringify(event), { msgID: `${trip.id}:${type}` });
    } catch (err) {
      throw new DependencyUnavailable("nats", err);
    }
  }
}

/** Reads a trip event from a message body; undefined when it is not one this version understands. */
export function parseTripEvent(body: string): TripEvent | undefined {
  try {
    const event = JSON.parse(body) as Partial<TripEvent>;
    if (event.schemaVersion !== TRIP_EVENT_SCHEMA_VERSION) return undefined;
    if (typeof event.type !== "string" || !event.type.startsWith("trips.")) return undefined;
    if (!event.trip || typeof event.trip.id !== "string" || !regionOfTripId(event.trip.id)) return undefined;
    return event as TripEvent;
  } catch {
    return undefined;
  }
}
