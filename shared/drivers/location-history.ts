// The location history in PostgreSQL, one table per region shard. Rows are written by group commit: the updates
// that arrive together for one shard go in one INSERT, and each caller is answered once its row is committed.
import { connectPostgres, onPostgres, postgresDeadlineMs, postgresHandle, type Sql } from "../clients/postgres";
import type { Config } from "../config";
import { locationKey, type DriverLocation } from "./driver";
import { GroupCommit } from "../group-commit";
import { DependencyUnavailable } from "../clients/dependency";
import type { DependencyHandle } from "../clients/dependency";
import { histogram } from "../metrics";
import { REGIONS, perRegion, type Region } from "../regions";

const batchSize = histogram(
  "uitgo_location_history_batch_rows",
  "Rows per history INSERT, by region",
  ["region"],
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
);

export type BatchOptions = Pick<Config, "locationBatchMax" | "locationBatchWaitMs" | "dependencyTimeoutMs">;

export class LocationHistory {
  private readonly batches: Record<Region, GroupCommit<DriverLocation, boolean>>;

  private readonly deadlineMs: number;

  constructor(
    private readonly shards: Record<Region, Sql>,
    options: BatchOptions,
  ) {
    this.deadlineMs = postgresDeadlineMs(options.dependencyTimeoutMs);
    this.batches = perRegion(
      (region) =>
        new GroupCommit<DriverLocation, boolean>((rows) => this.insert(region, rows), {
          maxBatch: options.locationBatchMax,
          maxWaitMs: options.locationBatchWaitMs,
          // Every row is validated before it gets here, so only an unforeseen row can make PostgreSQL refuse a batch.
          mayBeOneItem: (err) => !(err instanceof DependencyUnavailable),
        }),
    );
  }

  static connect(config: Config): LocationHistory {
    const shards = perRegion((region) => connectPostgres(config.shards[region].primaryUrl, config.serviceName, config.dependencyTimeoutMs));
    return new LocationHistory(shards, config);
  }

  /** Closing waits for the batches under way, so that a draining function answers every request it took. */
  handles(): DependencyHandle[] {
    return REGIONS.map((region) => {
      const handle = postgresHandle(`postgres-${region}`, this.shards[region]);
      return { ...handle, close: () => this.batches[region].drain().then(handle.close) };
    });
  }

  /** Resolves once the update is committed: true when it is new, false when the history already had it. */
  record(location: DriverLocation): Promise<boolean> {
    return this.batches[location.region].submit(location);
  }

  private async insert(region: Region, rows: DriverLocation[]): Promise<boolean[]> {
    batchSize.observe({ region }, rows.length);
    const sql = this.shards[region];
    // The rows as one jsonb parameter: one statement text whatever the batch size, so it is prepared once per connection.
    const batch = rows.map((r) => ({ ...r, recordedAt: new Date(r.recordedAt).toISOString() }));
    const inserted = await onPostgres(
      () => sql<{ driver_id: string; recorded_at: Date }[]>`
        insert into driver_locations (driver_id, recorded_at, lat, lng, accuracy, heading, speed, status)
        select "driverId", "recordedAt", lat, lng, accuracy, heading, speed, status
        from jsonb_to_recordset(${sql.json(batch)}) as r("driverId" text, "recordedAt" timestamptz, lat float8, lng float8,
          accuracy float8, heading float8, speed float8, status text)
        on conflict on constraint driver_locations_update do nothing
        returning driver_id, recorded_at`,
      this.deadlineMs,
      { summary: "INSERT driver_locations", sql },
    );
    const fresh = new Set(inserted.map((row) => locationKey({ driverId: row.driver_id, recordedAt: row.recorded_at.getTime() })));
    // A key twice in one batch (a redelivery racing the first delivery) was inserted once: the first one takes it.
    return rows.map((row) => fresh.delete(locationKey(row)));
  }
}
