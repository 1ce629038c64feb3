// Trip lifecycle events on the TRIPS stream: subject trips.<type>.<region>, deduplicated by Nats-Msg-Id.
import type { Nats } from "../clients/nats";
import { publishEvent } from "./publish";
import { UITGO } from "../telemetry/tracing";
import { regionOfTripId } from "../trips/trip-id";
import type { Principal } from "../principal";
import type { Trip, TripEventType } from "../trips/trip";

export const TRIP_EVENT_SCHEMA_VERSION = 1;

/**
 * The largest trip event a receiver reads. An event carries one trip the API took in a body of at most 16 KiB (its
 * texts serialize to no more bytes than the client had to send for them), plus ids and times.
 */
export const MAX_TRIP_EVENT_BYTES = 16 * 1024;

export interface TripEvent {
  schemaVersion: typeof TRIP_EVENT_SCHEMA_VERSION;
  type: `trips.${TripEventType}`;
  time: string;
  trip: Trip;
  /** Who caused it, for the lifecycle events a rider or driver asks for. */
  actor?: Principal;
}

export interface PublishOptions {
  actor?: Principal;
  /**
   * Tells apart events of one type that a trip can have more than once: after a decline the trip is
   * requested and assigned again, and those events must not be taken for duplicates of the first ones.
   */
  occurrence?: string;
}

export function tripSubject(type: TripEventType, trip: Pick<Trip, "id">): string {
  return `trips.${type}.${regionOfTripId(trip.id)}`;
}

export class TripEvents {
  constructor(private readonly nats: Nats) {}

  /** Resolves once the stream has stored the event; a repeated publish of the same occurrence is a duplicate. */
  async publish(type: TripEventType, trip: Trip, { actor, occurrence }: PublishOptions = {}): Promise<void> {
    const event: TripEvent = { schemaVersion: TRIP_EVENT_SCHEMA_VERSION, type: `trips.${type}`, time: new Date().toISOString(), trip };
    if (actor) event.actor = actor;
    const msgID = occurrence ? `${trip.id}:${type}:${occurrence}` : `${trip.id}:${type}`;
    await publishEvent(this.nats, tripSubject(type, trip), event, msgID, { [UITGO.tripId]: trip.id });
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
