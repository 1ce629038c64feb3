// Driver location events on the DRIVER_LOCATIONS stream: subject drivers.location.<region>, each carrying the updates
// of the region that update-location accepted together, deduplicated by Nats-Msg-Id (locationEventId).
import { createHash } from "node:crypto";
import type { Nats } from "../clients/nats";
import { DRIVER_LOCATION_TYPE } from "../cloudevents/types";
import { DRIVER_STATUSES, MEASURED_FIELDS, locationKey, type DriverLocation } from "../drivers/driver";
import { InvalidInput } from "../errors";
import { GroupCommit } from "../group-commit";
import { histogram } from "../metrics";
import { REGIONS, perRegion, type Region } from "../regions";
import { oneOf, parse, text, timestamp } from "../validation";
import { STREAMS } from "./definitions";
import { publishEvent } from "./publish";

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
 * Updates one event carries at most. update-location appends the updates of a region that it accepts in the same turn
 * of the event loop as one event: JetStream, the source and the history then handle one message for all of them.
 */
export const MAX_LOCATIONS_PER_EVENT = 64;

/**
 * The largest location event a receiver reads, as one structured CloudEvent of a batch (the larger of the two modes):
 * MAX_LOCATIONS_PER_EVENT updates at their largest (a 128-character driver id of 3-byte characters, every number at
 * 17 significant digits, 30 deliveries; tests/body-limits.test.ts builds it) take 38,310 bytes, and the rest is room
 * for the extensions Knative may add (K_CE_OVERRIDES).
 */
export const MAX_LOCATION_EVENT_BYTES = 40 * 1024;
export const LOCATION_EVENT_SCHEMA_VERSION = 2;

/** One update as an event carries it. */
export type EventLocation = Omit<DriverLocation, "recordedAt"> & { recordedAt: string };

export interface LocationEvent {
  schemaVersion: typeof LOCATION_EVENT_SCHEMA_VERSION;
  type: typeof DRIVER_LOCATION_TYPE;
  /** When update-location appended it, at or after it accepted each of its updates. */
  time: string;
  /** Updates of the subject's region, each a different driver's or instant's. */
  locations: EventLocation[];
}

/** Version 1 carried one update. Still read, so that what was appended before an upgrade is recorded after it. */
export interface LocationEventV1 {
  schemaVersion: 1;
  type: typeof DRIVER_LOCATION_TYPE;
  time: string;
  location: EventLocation;
}

const EVENT_LOCATION = {
  ...MEASURED_FIELDS,
  driverId: text(128),
  region: oneOf(REGIONS),
  status: oneOf(DRIVER_STATUSES),
  recordedAt: timestamp(),
};

export function locationSubject(region: Region): string {
  return `${DRIVER_LOCATION_TYPE}.${region}`;
}

/**
 * An event's Nats-Msg-Id: its one update's key, or a digest of its updates' keys. Either way the same updates make the
 * same id, so an event published twice, or a driver's retry that is alone in its event, is stored once.
 */
export function locationEventId(keys: readonly string[]): string {
  return keys.length === 1 ? keys[0]! : `sha1:${createHash("sha1").update(keys.join("\n")).digest("base64url")}`;
}

/** The event carrying these updates, appended at `time`. */
export function locationEvent(locations: Iterable<DriverLocation>, time = new Date()): LocationEvent {
  return {
    schemaVersion: LOCATION_EVENT_SCHEMA_VERSION,
    type: DRIVER_LOCATION_TYPE,
    time: time.toISOString(),
    locations: Array.from(locations, (location) => ({ ...location, recordedAt: new Date(location.recordedAt).toISOString() })),
  };
}

const eventSize = histogram(
  "uitgo_location_event_updates",
  "Updates per location event appended, by region",
  ["region"],
  [1, 2, 4, 8, 16, 32, 64],
);

export class LocationEvents {
  private readonly batches: Record<Region, GroupCommit<DriverLocation, void>>;

  constructor(private readonly nats: Nats) {
    this.batches = perRegion(
      (region) =>
        new GroupCommit<DriverLocation, void>((locations) => this.append(region, locations), {
          maxBatch: MAX_LOCATIONS_PER_EVENT,
          maxWaitMs: 0,
        }),
    );
  }

  /**
   * Appends the update and waits for the stream to store it; publishing the same update again is a no-op. The updates
   * of a region published in the same turn of the event loop travel in one event.
   */
  publish(location: DriverLocation): Promise<void> {
    return this.batches[location.region].submit(location);
  }

  private async append(region: Region, locations: DriverLocation[]): Promise<void[]> {
    // The same update twice in a turn (a retry racing the first try) is carried once.
    const unique = new Map(locations.map((location) => [locationKey(location), location]));
    eventSize.observe({ region }, unique.size);
    await publishEvent(this.nats, locationSubject(region), locationEvent(unique.values()), locationEventId([...unique.keys()]));
    return locations.map(() => undefined);
  }
}

/** Reads the updates of a location event (either version) from a message body, or refuses it with 400 saying what is wrong. */
export function parseLocationEvent(body: Record<string, unknown>): DriverLocation[] {
  if (body.schemaVersion !== LOCATION_EVENT_SCHEMA_VERSION && body.schemaVersion !== 1) {
    throw new InvalidInput(
      "invalid_event",
      `Expected schemaVersion ${LOCATION_EVENT_SCHEMA_VERSION} or 1, got ${JSON.stringify(body.schemaVersion)}`,
    );
  }
  if (body.type !== DRIVER_LOCATION_TYPE) {
    throw new InvalidInput("unsupported_event_type", `Cannot handle events of type ${JSON.stringify(body.type)}`);
  }
  const acceptedAt = typeof body.time === "string" ? Date.parse(body.time) : Number.NaN;
  if (body.schemaVersion === 1) return [parseEventLocation(body.location, "location", acceptedAt)];
  const raw = body.locations;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_LOCATIONS_PER_EVENT) {
    throw new InvalidInput("invalid_event", `The event's locations must be a list of 1 to ${MAX_LOCATIONS_PER_EVENT} updates`);
  }
  return raw.map((location, i) => parseEventLocation(location, `locations[${i}]`, acceptedAt));
}

function parseEventLocation(raw: unknown, field: string, acceptedAt: number): DriverLocation {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new InvalidInput("invalid_event", `The event's ${field} is not an object`);
  const { recordedAt, ...location } = parse(EVENT_LOCATION, raw as Record<string, unknown>);
  const issue = Number.isNaN(acceptedAt) ? "has no time of acceptance" : recordedAtIssue(recordedAt.getTime(), acceptedAt);
  if (issue) throw new InvalidInput("invalid_event", `The event's ${field}.recordedAt ${issue}`, [{ field: `${field}.recordedAt`, issue }]);
  return { ...location, recordedAt: recordedAt.getTime() };
}
