// The location history as the tests see it: straight from each shard's driver_locations table.
import postgres from "postgres";
import { loadConfig } from "../../shared/config";
import { REGIONS, type Region } from "../../shared/regions";

export interface HistoryRow {
  driver_id: string;
  recorded_at: Date;
  lat: number;
  lng: number;
  accuracy: number | null;
  heading: number | null;
  speed: number | null;
  status: string;
  stored_at: Date;
  /** The transaction that inserted the row: rows of one INSERT share it. */
  xmin: string;
}

export class HistoryTables {
  private readonly shards = Object.fromEntries(
    REGIONS.map((region) => [region, postgres(loadConfig().shards[region].primaryUrl, { max: 2, onnotice: () => {} })]),
  ) as Record<Region, postgres.Sql>;

  async clear(): Promise<void> {
    await Promise.all(REGIONS.map((region) => this.shards[region]`truncate driver_locations`));
  }

  rows(region: Region): Promise<HistoryRow[]> {
    return this.shards[region]<HistoryRow[]>`select *, xmin::text from driver_locations order by driver_id, recorded_at`;
  }

  async count(region?: Region): Promise<number> {
    const regions = region ? [region] : REGIONS;
    const counts = await Promise.all(regions.map((r) => this.shards[r]<{ n: number }[]>`select count(*)::int as n from driver_locations`));
    return counts.reduce((total, [row]) => total + row!.n, 0);
  }

  async close(): Promise<void> {
    await Promise.all(REGIONS.map((region) => this.shards[region].end()));
  }
}
