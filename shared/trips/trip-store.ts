// Trips in PostgreSQL, one database per region shard, reads that tolerate lag on the shard's replica.
import type { Config } from "../config";
import type { TransactionSql } from "postgres";
import { connectPostgres, onPostgres, postgresDeadlineMs, postgresHandle, type Sql } from "../clients/postgres";
import { dbSpan } from "../telemetry/tracing";
import { GroupCommit } from "../group-commit";
import { DependencyUnavailable } from "../clients/dependency";
import type { DependencyHandle } from "../clients/dependency";
import { REGIONS, perRegion, type Region } from "../regions";
import type { Principal } from "../principal";
import type { Decision } from "./state-machine";
import { historyQuery, newestFirst, type HistoryPage, type HistoryPosition } from "./trip-history";
import { regionOfTripId } from "./trip-id";
import { isParticipant, type Trip, type TripRequest, type TripStatus } from "./trip";

interface Shard {
  primary: Sql;
  replica?: Sql;
}

interface TripRow {
  id: string;
  rider_id: string;
  driver_id: string | null;
  service_id: Trip["serviceId"];
  origin_text: string;
  dest_text: string;
  origin_lat: number;
  origin_lng: number;
  dest_lat: number;
  dest_lng: number;
  status: TripStatus;
  idempotency_key: string | null;
  declined_by: string[];
  created_at: Date;
  updated_at: Date;
}

export interface NewTrip extends TripRequest {
  id: string;
  riderId: string;
  idempotencyKey?: string;
  /** How many trips the rider may have active, this one included; no limit when absent. */
  maxActiveTrips?: number;
}

/** Statuses in which a trip holds (or waits for) a driver. */
export const ACTIVE_STATUSES: readonly TripStatus[] = ["requested", "assigned", "accepted", "in_ride"];

/** The rider already has as many active trips in this shard as a booking allows. */
export class ActiveTripLimit extends Error {
  constructor(readonly limit: number) {
    super(`the rider already has ${limit} active trip${limit === 1 ? "" : "s"}`);
  }
}

export interface CreateResult {
  trip: Trip;
  /** True when an earlier request with the same Idempotency-Key created the trip. */
  replayed: boolean;
  /** The original request's fields, to detect a key reused for a different trip. */
  sameRequest: boolean;
}

/** What matching needs to know about a trip beyond what the API shows. */
export interface MatchingState {
  trip: Trip;
  /** Drivers who declined it; they are never offered it again. */
  declinedBy: string[];
  /** When the trip last entered matching: its booking, or the last decline. */
  requestedSince: Date;
}

export type TransitionResult =
  | { kind: "done"; trip: Trip; before: Trip; declinedBy: string[]; replayed: boolean }
  | Extract<Decision, { kind: "forbidden" | "conflict" | "not_found" }>;

/**
 * Work that must succeed for a transition to be kept (announcing it, freeing the driver). It runs
 * before the commit, so a failure rolls the transition back and the caller can simply retry.
 */
export type TransitionEffects = (result: Extract<TransitionResult, { kind: "done" }>) => Promise<void>;

/** The driver already has an active trip in this shard: the unique index refused a second one. */
export class DriverAlreadyOnTrip extends Error {}

// Bookings that arrive together are inserted by one statement per shard: one commit (one fsync) and one round
// trip for all of them. No wait beyond the current turn of the event loop, so a lone booking is not delayed.
const INSERT_BATCH_MAX = 128;

export class TripStore {
  private readonly inserts: Record<Region, GroupCommit<NewTrip, TripRow | undefined>>;

  private constructor(
    private readonly shards: Record<Region, Shard>,
    private readonly deadlineMs: number,
  ) {
    this.inserts = perRegion(
      (region) =>
        new GroupCommit<NewTrip, TripRow | undefined>((trips) => this.insertBatch(region, trips), {
          maxBatch: INSERT_BATCH_MAX,
          maxWaitMs: 0,
          // Requests are validated before they get here, so only an unforeseen row can make PostgreSQL refuse a batch.
          mayBeOneItem: (err) => !(err instanceof DependencyUnavailable),
        }),
    );
  }

  static connect(config: Config): TripStore {
    const app = config.serviceName;
    const timeout = config.dependencyTimeoutMs;
    const shards = perRegion((region) => {
      const { primaryUrl, replicaUrl } = config.shards[region];
      const shard: Shard = { primary: connectPostgres(primaryUrl, app, timeout) };
      if (replicaUrl) shard.replica = connectPostgres(replicaUrl, app, timeout);
      return shard;
    });
    return new TripStore(shards, postgresDeadlineMs(timeout));
  }

  /** Closing a primary first waits for the inserts under way, so that a draining function answers every booking it took. */
  handles(): DependencyHandle[] {
    return REGIONS.flatMap((region) => {
      const shard = this.shards[region];
      const primary = postgresHandle(`postgres-${region}`, shard.primary);
      const handles = [{ ...primary, close: () => this.inserts[region].drain().then(primary.close) }];
      if (shard.replica) handles.push(postgresHandle(`postgres-${region}-replica`, shard.replica));
      return handles;
    });
  }

  /** Inserts the trip, or returns the one an earlier request with the same idempotency key created. */
  /**
   * Inserts the trip, or returns the one an earlier request with the same idempotency key created. Throws
   * ActiveTripLimit when the trip would be one more than `maxActiveTrips` active trips of its rider in the shard.
   */
  async create(region: Region, trip: NewTrip): Promise<CreateResult> {
    // A key is unique per shard by constraint; a retry that lands in another region (a different
    // pickup) is caught by looking in the other shards at the same time as the insert.
    const [here, elsewhere] = await Promise.all([
      this.insertOrFindEarlier(region, trip).catch((err: unknown) => (err instanceof ActiveTripLimit ? err : Promise.reject(err))),
      this.findByKeyElsewhere(region, trip),
    ]);
    if (!elsewhere) {
      if (here instanceof ActiveTripLimit) throw here;
      return here;
    }
    if (!(here instanceof ActiveTripLimit) && !here.replayed) await this.discard(here.trip.id);
    return { trip: elsewhere, replayed: true, sameRequest: sameRequest(elsewhere, trip) };
  }

  private async insertOrFindEarlier(region: Region, trip: NewTrip): Promise<CreateResult> {
    const sql = this.shards[region].primary;
    // Inserted with the trips booked in the same turn (one statement); the span is this trip's wait for it.
    const inserted = await dbSpan("postgresql", "INSERT trips", sql.options.database, () => this.inserts[region].submit(trip));
    if (inserted) return { trip: toTrip(inserted), replayed: false, sameRequest: true };

    const [earlier] = await onPostgres(() => byIdempotencyKey(sql, trip.riderId, trip.idempotencyKey ?? null), this.deadlineMs);
    // Not inserted and no earlier trip under its key: the limit on active trips is what held it back.
    if (!earlier && trip.maxActiveTrips !== undefined) throw new ActiveTripLimit(trip.maxActiveTrips);
    if (!earlier) throw new Error("idempotency conflict without an earlier trip");
    const original = toTrip(earlier);
    return { trip: original, replayed: true, sameRequest: sameRequest(original, trip) };
  }

  /**
   * Inserts the trips; a trip whose idempotency key was already used, or that would exceed its rider's limit on active
   * trips, is not inserted and answers undefined.
   */
  private async insertBatch(region: Region, trips: NewTrip[]): Promise<(TripRow | undefined)[]> {
    const sql = this.shards[region].primary;
    const rows = trips.map((t, position) => ({
      position,
      max_active: t.maxActiveTrips ?? null,
      id: t.id,
      rider_id: t.riderId,
      service_id: t.serviceId,
      origin_text: t.originText,
      dest_text: t.destText,
      origin_lat: t.originLat,
      origin_lng: t.originLng,
      dest_lat: t.destLat,
      dest_lng: t.destLng,
      idempotency_key: t.idempotencyKey ?? null,
    }));
    const limited = trips.some((t) => t.maxActiveTrips !== undefined);
    // The rows as one jsonb parameter: one statement text whatever the batch size, so it is prepared once per connection.
    // A row goes in only while its rider's active trips, with those before it in the batch, stay within its limit.
    const insert = (tx: Sql | TransactionSql) => tx<TripRow[]>`
      insert into trips (id, rider_id, service_id, origin_text, dest_text, origin_lat, origin_lng, dest_lat, dest_lng, status, idempotency_key)
      select id, rider_id, service_id, origin_text, dest_text, origin_lat, origin_lng, dest_lat, dest_lng, 'requested', idempotency_key
      from (
        select *, row_number() over (partition by rider_id order by position) as nth
        from jsonb_to_recordset(${sql.json(rows)}) as r(position int, max_active int, id text, rider_id text, service_id text,
          origin_text text, dest_text text, origin_lat float8, origin_lng float8, dest_lat float8, dest_lng float8, idempotency_key text)
      ) r
      where r.max_active is null
        or r.nth + (select count(*) from trips t where t.rider_id = r.rider_id and t.status in ${sql(ACTIVE_STATUSES as string[])}) <= r.max_active
      on conflict (rider_id, idempotency_key) do nothing
      returning *`;
    // Counting and inserting are atomic per rider only under a lock: two bookings of one rider in flight on two
    // connections would otherwise both count the same trips. The lock is taken, in one order, in its own statement,
    // so the insert's snapshot, taken after it, sees every trip committed before it was granted.
    const inserted = await onPostgres(
      () =>
        limited
          ? sql
              .begin((tx) => [
                tx`select pg_advisory_xact_lock(k) from (select distinct hashtextextended(r.rider_id, 0) as k
                   from jsonb_to_recordset(${sql.json(rows)}) as r(rider_id text) order by k) riders`,
                insert(tx),
              ])
              .then(([, rows]) => rows as TripRow[])
          : insert(sql),
      this.deadlineMs,
    );
    const byId = new Map(inserted.map((row) => [row.id, row]));
    return trips.map((trip) => byId.get(trip.id));
  }

  private async findByKeyElsewhere(region: Region, trip: NewTrip): Promise<Trip | undefined> {
    const key = trip.idempotencyKey;
    if (key === undefined) return undefined;
    const others = REGIONS.filter((r) => r !== region);
    const found = await Promise.all(
      others.map((r) => onPostgres(() => byIdempotencyKey(this.shards[r].primary, trip.riderId, key), this.deadlineMs)),
    );
    const row = found.flat()[0];
    return row && toTrip(row);
  }

  /**
   * Removes a trip that was never announced, so that a failed booking leaves nothing behind; false when the trip is
   * no longer requested (matching has taken it, so it was announced after all) or was not there.
   */
  async discard(id: string): Promise<boolean> {
    const sql = this.shardOf(id).primary;
    const removed = await onPostgres(() => sql`delete from trips where id = ${id} and status = 'requested' returning id`, this.deadlineMs, {
      summary: "DELETE trips",
      sql,
    });
    return removed.length > 0;
  }

  /** Reads from the replica when `mayLag` and one is configured, falling back to the primary for trips it has not seen yet. */
  async get(id: string, { mayLag = false } = {}): Promise<Trip | undefined> {
    const shard = this.shardOf(id);
    return onPostgres(
      async () => {
        if (mayLag && shard.replica) {
          const [row] = await shard.replica<TripRow[]>`select * from trips where id = ${id}`;
          if (row) return toTrip(row);
        }
        const [row] = await shard.primary<TripRow[]>`select * from trips where id = ${id}`;
        return row && toTrip(row);
      },
      this.deadlineMs,
      { summary: "SELECT trips", sql: shard.primary },
    );
  }

  /**
   * A page of the party's trips, newest first, after `before` (from the start when absent): each shard's replica, or its
   * primary when it has none, gives up to limit + 1 in parallel, and one past the page tells that another follows.
   * Trips the replica has not replayed yet are missing from the page (docs/runbook.md, "Read replica lag").
   */
  async history(party: Principal, limit: number, before?: HistoryPosition): Promise<HistoryPage> {
    const pages = await onPostgres(
      () => Promise.all(REGIONS.map((region) => historyQuery<TripRow>(this.reader(region), party, limit + 1, before))),
      this.deadlineMs,
    );
    const { rows, more } = newestFirst(pages, limit);
    const last = rows.at(-1);
    return { trips: rows.map(toTrip), ...(more && last && { next: { createdAt: last.position_at, id: last.id } }) };
  }

  /**
   * The trip if `principal` is its rider or its driver. Someone else's trip, a missing one and an id that is not a trip
   * id all read as undefined, so that ids cannot be probed.
   */
  async getForParticipant(id: string, principal: Principal, options: { mayLag?: boolean } = {}): Promise<Trip | undefined> {
    const trip = regionOfTripId(id) ? await this.get(id, options) : undefined;
    return trip && isParticipant(trip, principal) ? trip : undefined;
  }

  /** Moves a requested trip to assigned. Returns the trip as it now stands, assigned to this driver or not. */
  async assign(id: string, driverId: string): Promise<Trip | undefined> {
    const sql = this.shardOf(id).primary;
    return onPostgres(
      async () => {
        try {
          const [row] = await sql<TripRow[]>`
          update trips set status = 'assigned', driver_id = ${driverId}, updated_at = now()
          where id = ${id} and status = 'requested'
          returning *`;
          if (row) return toTrip(row);
        } catch (err) {
          if ((err as { constraint_name?: string }).constraint_name === "trips_one_active_trip_per_driver") {
            throw new DriverAlreadyOnTrip(`driver ${driverId} already has an active trip`);
          }
          throw err;
        }
        const [current] = await sql<TripRow[]>`select * from trips where id = ${id}`;
        return current && toTrip(current);
      },
      this.deadlineMs,
      { summary: "UPDATE trips", sql },
    );
  }

  async forMatching(id: string): Promise<MatchingState | undefined> {
    const sql = this.shardOf(id).primary;
    return onPostgres(
      async () => {
        // A plain read first: a requested trip can only leave requested through an UPDATE … WHERE status = 'requested',
        // which waits for any transition in progress, so matching it needs no lock.
        let [row] = await sql<TripRow[]>`select * from trips where id = ${id}`;
        // Any other status may be a transition in progress (a decline announces the trip again before it commits).
        // FOR KEY SHARE waits for it, so matching sees the trip as that transition leaves it. The lock is a write
        // (a transaction id and a commit), which is why the common case above goes without it.
        if (row && row.status !== "requested") [row] = await sql<TripRow[]>`select * from trips where id = ${id} for key share`;
        // A requested trip's updated_at is when it entered matching: nothing else touches a requested trip.
        return row && { trip: toTrip(row), declinedBy: row.declined_by, requestedSince: row.updated_at };
      },
      this.deadlineMs,
      { summary: "SELECT trips", sql },
    );
  }

  /**
   * Applies what `decide` makes of the trip as it stands, read under a row lock so that no other transition of it
   * interleaves. A replay (the step that brought the trip where it is, asked again) runs the effects again without
   * writing, so a client that lost the answer can retry safely.
   */
  async transition(id: string, decide: (before: Trip | undefined) => Decision, effects: TransitionEffects): Promise<TransitionResult> {
    const sql = this.shardOf(id).primary;
    return onPostgres(
      () =>
        sql.begin(async (tx): Promise<TransitionResult> => {
          const [row] = await tx<TripRow[]>`select * from trips where id = ${id} for update`;
          const before = row && toTrip(row);
          const decision = decide(before);
          if (decision.kind === "replay") {
            const replay = { kind: "done", trip: before!, before: before!, declinedBy: row!.declined_by, replayed: true } as const;
            await effects(replay);
            return replay;
          }
          if (decision.kind !== "apply") return decision;

          const { status, driverId, declinedBy } = decision.change;
          const [updated] = await tx<TripRow[]>`
            update trips set
              status = ${status},
              updated_at = now(),
              driver_id = ${driverId},
              declined_by = ${declinedBy === undefined ? tx`declined_by` : tx`array_append(declined_by, ${declinedBy}::text)`}
            where id = ${id}
            returning *`;
          const done = {
            kind: "done",
            trip: toTrip(updated!),
            before: before!,
            declinedBy: updated!.declined_by,
            replayed: false,
          } as const;
          await effects(done);
          return done;
        }),
      this.deadlineMs,
    );
  }

  /** Trips of the shard still requested `olderThanMs` after they entered matching (by the database's clock), oldest first. */
  async requestedLongerThan(region: Region, olderThanMs: number, limit: number): Promise<string[]> {
    const sql = this.shards[region].primary;
    const rows = await onPostgres(
      () => sql<{ id: string }[]>`
        select id from trips
        where status = 'requested' and updated_at < now() - ${olderThanMs} * interval '1 millisecond'
        order by updated_at
        limit ${limit}`,
      this.deadlineMs,
    );
    return rows.map((row) => row.id);
  }

  /** Moves a still-requested trip to no_driver. Returns the trip as it now stands. */
  async markNoDriver(id: string): Promise<Trip | undefined> {
    const sql = this.shardOf(id).primary;
    return onPostgres(
      async () => {
        const [row] = await sql<TripRow[]>`
        update trips set status = 'no_driver', updated_at = now()
        where id = ${id} and status = 'requested'
        returning *`;
        if (row) return toTrip(row);
        const [current] = await sql<TripRow[]>`select * from trips where id = ${id}`;
        return current && toTrip(current);
      },
      this.deadlineMs,
      { summary: "UPDATE trips", sql },
    );
  }

  /** Where reads that tolerate lag go in a shard. */
  private reader(region: Region): Sql {
    const shard = this.shards[region];
    return shard.replica ?? shard.primary;
  }

  private shardOf(id: string): Shard {
    const region = regionOfTripId(id);
    if (!region) throw new Error(`not a trip id: ${id}`);
    return this.shards[region];
  }
}

function byIdempotencyKey(sql: Sql, riderId: string, key: string | null) {
  return sql<TripRow[]>`select * from trips where rider_id = ${riderId} and idempotency_key = ${key}`;
}

function toTrip(row: TripRow): Trip {
  const trip: Trip = {
    id: row.id,
    riderId: row.rider_id,
    serviceId: row.service_id,
    originText: row.origin_text,
    destText: row.dest_text,
    originLat: row.origin_lat,
    originLng: row.origin_lng,
    destLat: row.dest_lat,
    destLng: row.dest_lng,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
  if (row.driver_id) trip.driverId = row.driver_id;
  return trip;
}

function sameRequest(trip: Trip, request: TripRequest): boolean {
  return (
    trip.serviceId === request.serviceId &&
    trip.originText === request.originText &&
    trip.destText === request.destText &&
    trip.originLat === request.originLat &&
    trip.originLng === request.originLng &&
    trip.destLat === request.destLat &&
    trip.destLng === request.destLng
  );
}
