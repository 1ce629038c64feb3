// Driver location events on the DRIVER_LOCATIONS stream: subject drivers.location.<region>, one per accepted
// update, deduplicated by Nats-Msg-Id <driverId>:<recordedAt ms> so a retried update is stored once.
import type { Nats } from "../clients/nats";
import type { DriverStatus, LocationUpdate } from "../drivers/driver-index";
import { ApiError } from "../http/errors";
import { REGIONS, type Region } from "../regions";
import { latitude, longitude, number, oneOf, optional, parse, text, timestamp } from "../validation";
import { STREAMS } from "./definitions";
import { publishEvent } from "./publish";

export const DRIVER_STATUSES: readonly DriverStatus[] = ["available", "offline"];

/** What a driver's device measures, as the API takes it and as the event carries it. */
export const MEASURED_FIELDS = {
  lat: latitude(),
  lng: longitude(),
  accuracy: optional(number(0, 10_000)),
  heading: optional(number(0, 360)),
  speed: optional(number(0, 100)),
};

/** One accepted location update, as history keeps it. */
export interface DriverLocation extends LocationUpdate {
  region: Region;
  accuracy?: number;
  heading?: number;
  speed?: number;
}

export const LOCATION_EVENT_TYPE = "drivers.location";

/**
 * How far back a reported position may be: as long as DRIVER_LOCATIONS keeps an update (its max_age). An older one is
 * no update to keep, and a date PostgreSQL cannot store (year 0000) would fail every history batch it joined.
 */
export const MAX_LOCATION_AGE_MS = Number(STREAMS.find((stream) => stream.name === "DRIVER_LOCATIONS")!.max_age) / 1e6;
/** A device clock ahead of the server's by this much is tolerated in an event (update-location clamps it to now). */
const CLOCK_SKEW_MS = 60_000;

/** What is wrong with a position recorded at `recordedAt` and accepted at `acceptedAt`, if anything. */
export function recordedAtIssue(recordedAt: number, acceptedAt: number): string | undefined {
  if (recordedAt < acceptedAt - MAX_LOCATION_AGE_MS) return `must be within the last ${MAX_LOCATION_AGE_MS / 3_600_000} hours`;
  if (recordedAt > acceptedAt + CLOCK_SKEW_MS) return "must not be in the future";
  return undefined;
}

/**
 * The largest location event a receiver reads, as one structured CloudEvent of a batch (the larger of the two modes):
 * the worst case is 1,330 bytes (a 128-character driver id of 3-byte characters, in the event and in its id, every
 * number at 17 significant digits, 30 deliveries; tests/body-limits.test.ts builds it), and the rest is room for the
 * extensions Knative may add (K_CE_OVERRIDES).
 */
export const MAX_LOCATION_EVENT_BYTES = 1536;
export const LOCATION_EVENT_SCHEMA_VERSION = 1;

export interface LocationEvent {
  schemaVersion: typeof LOCATION_EVENT_SCHEMA_VERSION;
  type: typeof LOCATION_EVENT_TYPE;
  /** When update-location accepted it. */
  time: string;
  location: Omit<DriverLocation, "recordedAt"> & { recordedAt: string };
}

const EVENT_LOCATION = {
  ...MEASURED_FIELDS,
  driverId: text(128),
  region: oneOf(REGIONS),
  status: oneOf(DRIVER_STATUSES),
  recordedAt: timestamp(),
};

export function locationSubject(region: Region): string {
  return `${LOCATION_EVENT_TYPE}.${region}`;
}

/** The identity of an update: a driver reports one position per instant. */
export function locationKey(location: Pick<DriverLocation, "driverId" | "recordedAt">): string {
  return `${location.driverId}:${location.recordedAt}`;
}

export class LocationEvents {
  constructor(private readonly nats: Nats) {}

  /** Appends the update and waits for the stream to store it; publishing the same update again is a no-op. */
  async publish(location: DriverLocation, now = Date.now()): Promise<void> {
    const event: LocationEvent = {
      schemaVersion: LOCATION_EVENT_SCHEMA_VERSION,
      type: LOCATION_EVENT_TYPE,
      time: new Date(now).toISOString(),
      location: { ...location, recordedAt: new Date(location.recordedAt).toISOString() },
    };
    await publishEvent(this.nats, locationSubject(location.region), event, locationKey(location));
  }
}

/** Reads a location event from a message body, or refuses it with 400 saying what is wrong. */
export function parseLocationEvent(body: Record<string, unknown>): DriverLocation {
  if (body.schemaVersion !== LOCATION_EVENT_SCHEMA_VERSION) {
    throw new ApiError(400, "invalid_event", `Expected schemaVersion ${LOCATION_EVENT_SCHEMA_VERSION}, got ${JSON.stringify(body.schemaVersion)}`);
  }
  if (body.type !== LOCATION_EVENT_TYPE) {
    throw new ApiError(400, "unsupported_event_type", `Cannot handle events of type ${JSON.stringify(body.type)}`);
  }
  const raw = body.location;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ApiError(400, "invalid_event", "The event has no location object");
  const { recordedAt, ...location } = parse(EVENT_LOCATION, raw as Record<string, unknown>);
  const acceptedAt = typeof body.time === "string" ? Date.parse(body.time) : Number.NaN;
  const issue = Number.isNaN(acceptedAt) ? "has no time of acceptance" : recordedAtIssue(recordedAt.getTime(), acceptedAt);
  if (issue) throw new ApiError(400, "invalid_event", `The event's recordedAt ${issue}`, [{ field: "location.recordedAt", issue }]);
  return { ...location, recordedAt: recordedAt.getTime() };
}
